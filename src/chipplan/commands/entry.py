"""The ``chipplan`` entry point, kept light: ``chipplan --version`` and ``chipplan --help`` answer from this file
alone (no typer, numpy or pandas), in well under 0.3 s; every other call loads the full command line
(``chipplan.cli``).

``REGISTRY`` is the one list of commands: ``chipplan.cli`` registers each from it, and the top-level help is
printed from it (a test checks the two agree).
"""

from __future__ import annotations

import sys

# (name, module, attribute, kind, one-line help): "typer" adds a sub-app, "command" registers a function.
REGISTRY: tuple[tuple[str, str, str, str, str], ...] = (
    ("catalog", "chipplan.commands.catalog", "catalog_app", "typer",
     "Browse the catalog of accelerators, systems and models; write and check custom chip files."),
    ("model", "chipplan.commands.catalog", "model_command", "command",
     "Parameters, FLOPs per token and memory by precision for one model."),
    ("predict", "chipplan.commands.table", "predict_command", "command",
     "Predict every row of a CSV: training throughput, or serving throughput and latency."),
    ("validate", "chipplan.commands.table", "validate_command", "command",
     "Compare predictions with published measurements: median and p90 error, interval coverage."),
    ("train", "chipplan.commands.train", "train_command", "command",
     "Plan a training run: layout, tokens/s, days, accelerator-hours and cost, with 80 % intervals."),
    ("serve", "chipplan.commands.serve", "serve_command", "command",
     "Serving plan: throughput-latency frontier, best configuration, accelerators and $/M tokens."),
    ("compare", "chipplan.commands.compare", "compare_command", "command",
     "One training run on several accelerators: accelerators, days, accelerator-hours and cost."),
    ("cost", "chipplan.commands.cost", "cost_app", "typer",
     "Cost from wafer to token: dies, chips, servers, clusters, TCO, $ per token."),
    ("tco", "chipplan.commands.cost", "tco_command", "command",
     "Own vs rent: total cost, $/accelerator-hour, break-even utilisation and horizon."),
    ("cost-per-token", "chipplan.commands.cost", "cost_per_token_command", "command",
     "USD per million tokens from a throughput (given, or from the serving engine) and a price."),
    ("strategy", "chipplan.commands.strategy", "strategy_command", "command",
     "Recommend a sourcing portfolio under uncertainty (Monte Carlo, stochastic optimisation)."),
    ("plan", "chipplan.commands.plan", "plan_command", "command",
     "Run a scenario through every engine and write one report."),
    ("scenario", "chipplan.commands.plan", "scenario_app", "typer",
     "Scenario files: the JSON Schema for editors, and checking a file."),
    ("runs", "chipplan.commands.runs", "runs_app", "typer",
     "Stored runs of `chipplan plan`: list them, show one, diff two."),
    ("web", "chipplan.commands.web", "web_command", "command",
     "Serve the web app: catalog browser, what-if forms, scenario runs, stored runs."),
    ("codesign", "chipplan.commands.codesign", "codesign_app", "typer",
     "Chip-model co-design: parametric accelerators, sweeps, Pareto fronts, claims."),
    ("db", "chipplan.commands.codesign", "db_app", "typer", "SQL over result files (DuckDB)."),
)

ABOUT = "Plan AI compute: training and serving performance, cost from wafer to token, sourcing strategy."


def top_help() -> str:
    """The text of ``chipplan --help``."""
    width = max(len(name) for name, *_ in REGISTRY)
    lines = ["Usage: chipplan [OPTIONS] COMMAND [ARGS]...", "", f"  {ABOUT}", "",
             "Options:",
             f"  {'--version':<{width + 2}}Print the version.",
             f"  {'--debug':<{width + 2}}Show tracebacks instead of one-line errors.",
             f"  {'--help':<{width + 2}}Show this message and exit.", "",
             "Commands:"]
    lines += [f"  {name:<{width + 2}}{summary}" for name, _, _, _, summary in REGISTRY]
    lines += ["", "Every command takes --format table|json|csv|tsv|markdown (and --json); "
              "`chipplan COMMAND --help` for its options."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Answer ``--version`` and ``--help`` here; hand everything else to ``chipplan.cli.main``."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        from chipplan import __version__

        sys.stdout.write(f"chipplan {__version__}\n")
        return
    if args in (["--help"], ["-h"]):
        sys.stdout.write(top_help())
        return
    import importlib

    word = next((a for a in args if not a.startswith("-")), None)
    if argv is not None or word not in QUICK:
        # chipplan.cli imports REGISTRY from here; loading it by name keeps this file free of an import back.
        importlib.import_module("chipplan.cli").main(args)
        return
    _quick(word, args)


#: Commands run as a short process of their own (``chipplan predict FILE``), and the modules each needs. They are
#: imported with the cyclic garbage collector paused and then frozen: they live as long as the process, and the
#: collector would otherwise walk them some 250 times during start-up (about a tenth of it) and again in every
#: later full collection. Once the output is flushed such a process ends without the interpreter's teardown
#: (``_end``). Neither command starts a thread or leaves a file open.
QUICK: dict[str, tuple[str, ...]] = {
    "predict": ("chipplan.commands.table", "chipplan.api", "chipplan.io"),
    "validate": ("chipplan.commands.table", "chipplan.api", "chipplan.io"),
}


def _quick(word: str, args: list[str]) -> None:
    import gc
    import importlib

    enabled = gc.isenabled()
    gc.disable()
    try:
        cli = importlib.import_module("chipplan.cli")
        for name in QUICK[word]:
            try:
                importlib.import_module(name)
            except Exception:  # the command loads it again and reports the failure as every command does
                break
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    _end(cli.run(args))


def _end(code: int) -> None:
    """Exit with ``code`` once stdout and stderr are flushed and the ``atexit`` handlers have run, without the
    interpreter's teardown: freeing, one by one, every object of a process about to end (a tenth of a
    ``chipplan predict`` of 10⁵ rows; the system takes the memory back at once). The ordinary exit when another
    thread is still running or a stream cannot be flushed (that exit then reports it)."""
    import atexit
    import os
    import threading

    if threading.active_count() > 1:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    os._exit(code)
