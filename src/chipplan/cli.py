"""The ``chipplan`` command line. Each topic lives in ``chipplan.commands.<topic>``; this file wires them."""

from __future__ import annotations

import importlib

import typer

from chipplan import __version__
from chipplan.commands._common import EXIT_USAGE, err_console

app = typer.Typer(
    name="chipplan",
    help="Plan AI compute: training and serving performance, cost from wafer to token, sourcing strategy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, kind, name): "typer" adds a sub-app, "command" registers a function.
_REGISTRY = [
    ("chipplan.commands.catalog", "catalog_app", "typer", "catalog"),
    ("chipplan.commands.catalog", "model_command", "command", "model"),
    ("chipplan.commands.table", "predict_command", "command", "predict"),
    ("chipplan.commands.table", "validate_command", "command", "validate"),
    ("chipplan.commands.train", "train_command", "command", "train"),
    ("chipplan.commands.serve", "serve_command", "command", "serve"),
    ("chipplan.commands.compare", "compare_command", "command", "compare"),
    ("chipplan.commands.cost", "cost_app", "typer", "cost"),
    ("chipplan.commands.cost", "tco_command", "command", "tco"),
    ("chipplan.commands.cost", "cost_per_token_command", "command", "cost-per-token"),
    ("chipplan.commands.strategy", "strategy_command", "command", "strategy"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chipplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
) -> None:
    import os

    if debug:
        os.environ["CHIPPLAN_DEBUG"] = "1"


def _register() -> None:
    # Every listed module must import: a broken or missing command module stops the CLI with the cause, rather
    # than silently dropping the command.
    for module, attr, kind, name in _REGISTRY:
        try:
            mod = importlib.import_module(module)
        except Exception as e:
            raise ImportError(f"chipplan: command {name!r} cannot be loaded: {module} failed to import "
                              f"({type(e).__name__}: {e})") from e
        obj = getattr(mod, attr)
        if kind == "typer":
            app.add_typer(obj, name=name)
        else:
            app.command(name=name)(obj)


_register()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(EXIT_USAGE) from None


if __name__ == "__main__":
    main()
