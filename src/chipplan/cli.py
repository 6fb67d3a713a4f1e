"""The ``chipplan`` command line. Each topic lives in ``chipplan.commands.<topic>``; this file wires them."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys

import typer

from chipplan import __version__
from chipplan.commands._common import EXIT_USAGE, debug_enabled
from chipplan.commands.entry import ABOUT, REGISTRY
from chipplan.errors import ChipplanError
from chipplan.safeio import one_line, shown


def _click_modules() -> list[object]:
    """click itself and the copy recent typer releases vendor (``typer._click``): their exceptions differ."""
    mods: list[object] = []
    for name in ("typer._click", "click"):
        with contextlib.suppress(ImportError):
            mods.append(importlib.import_module(f"{name}.exceptions"))
    return mods


def _classes(name: str) -> tuple[type, ...]:
    return tuple(c for m in _click_modules() if isinstance(c := getattr(m, name, None), type))


# click >= 8.2 raises NoArgsIsHelpError for a group called without a command when ``no_args_is_help`` is set.
_EXIT, _CLICK_ERROR, _USAGE, _ABORT, _NO_ARGS = (_classes(n) for n in ("Exit", "ClickException", "UsageError",
                                                                        "Abort", "NoArgsIsHelpError"))

# (module, attribute, kind, name), from the one list of commands (``chipplan.commands.entry.REGISTRY``).
_REGISTRY = [(module, attr, kind, name) for name, module, attr, kind, _ in REGISTRY]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chipplan {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
) -> None:
    import os

    if debug:
        os.environ["CHIPPLAN_DEBUG"] = "1"


def _new_app() -> typer.Typer:
    t = typer.Typer(name="chipplan", help=ABOUT, no_args_is_help=True, add_completion=False,
                    pretty_exceptions_enable=False)
    t.callback()(_root)
    return t


def _register(target: typer.Typer | None = None, names: set[str] | None = None) -> None:
    """Register the commands (all, or those in ``names``) on ``target`` (the full app by default)."""
    target = _full if target is None else target
    # Every listed module must import: a broken or missing command module stops the CLI with the cause, rather
    # than silently dropping the command.
    for module, attr, kind, name in _REGISTRY:
        if names is not None and name not in names:
            continue
        try:
            mod = importlib.import_module(module)
        except Exception as e:
            raise ImportError(f"chipplan: command {name!r} cannot be loaded: {module} failed to import "
                              f"({type(e).__name__}: {e})") from e
        obj = getattr(mod, attr)
        if kind == "typer":
            target.add_typer(obj, name=name)
        else:
            target.command(name=name)(obj)


_full = _new_app()


def __getattr__(name: str) -> typer.Typer:
    """``chipplan.cli.app``: the app with every command, registered on first use (``run`` loads only the command
    it is asked for, so ``chipplan predict`` does not import the cost, strategy or web modules)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _register()
    globals()["app"] = _full
    return _full


def _app_for(args: list[str]) -> typer.Typer:
    """The app ``args`` need: only the named command's module when the first word names one, else every command
    (the top-level help, a misspelt command)."""
    if "app" in globals():
        return globals()["app"]
    word = next((a for a in args if not a.startswith("-")), None)
    if word in {name for *_, name in _REGISTRY}:
        t = _new_app()
        _register(t, {word})
        return t
    return __getattr__("app")


EXIT_INTERNAL = 1
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EISDIR}
EXIT_INTERRUPTED = 130
_MEMORY_HINT = "not enough memory for this request; reduce the sizes given (rows, scenarios, samples, sweep points)"


def main(argv: list[str] | None = None) -> None:
    """The ``chipplan`` entry point: run the command line and exit with its status.

    Every failure that escapes a command is one line on stderr: status 2 for bad input (a ``ChipplanError``,
    a usage error of the command line, an OSError such as a full disk or a directory as the output, a
    numerical overflow caused by an input far outside its range, memory exhausted by the sizes asked for)
    and status 1, with a hint to rerun with ``--debug``, for an internal error. ``--debug`` (or
    ``CHIPPLAN_DEBUG=1``) shows the traceback instead.
    """
    raise SystemExit(run(sys.argv[1:] if argv is None else list(argv)))


def run(args: list[str]) -> int:
    """Run the command line on ``args`` in this process and return the exit status (never raises, unless debug)."""
    import warnings

    import numpy as np

    debug = debug_enabled() or "--debug" in args
    try:
        with warnings.catch_warnings():
            if not debug:
                # Library notices are not the user's business; a numerical RuntimeWarning means a wrong answer.
                warnings.simplefilter("ignore")
                warnings.simplefilter("error", RuntimeWarning)
            with np.errstate(divide="raise", over="raise", invalid="raise"):
                code = _app_for(args)(args=args, prog_name="chipplan", standalone_mode=False)
        _flush_stdout()
    except BaseException as e:  # the one place every failure becomes a line and a status
        if debug and not isinstance(e, (*_EXIT, *_CLICK_ERROR, SystemExit)):
            raise
        code = _report(e)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except OSError:
        _silence_stdout()
        raise


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot print 'Exception ignored'."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's buffer)
        pass


def _say(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"error: {one_line(message)}\n")
        sys.stderr.flush()


def _report(e: BaseException) -> int:
    """One line on stderr for ``e``; its exit status."""
    if isinstance(e, _EXIT):
        return e.exit_code  # type: ignore[attr-defined]
    if isinstance(e, SystemExit):
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        _say(str(e.code))
        return EXIT_USAGE
    if isinstance(e, _NO_ARGS):  # bare ``chipplan`` or ``chipplan cost``: the help, as before
        with contextlib.suppress(OSError):
            sys.stdout.write(e.ctx.get_help() + "\n" if e.ctx else "")
        return EXIT_USAGE
    if isinstance(e, _USAGE):
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        _say(f"{e.format_message()}{where}")
        return EXIT_USAGE
    if isinstance(e, _CLICK_ERROR):
        _say(e.format_message())
        return e.exit_code if e.exit_code else EXIT_USAGE
    if isinstance(e, _ABORT):
        _say("aborted")
        return EXIT_USAGE
    if isinstance(e, KeyboardInterrupt):
        _say("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(e, ChipplanError):
        _say(str(e))
        return EXIT_USAGE
    if isinstance(e, OSError):
        if e.errno == errno.EPIPE:  # the reader went away (``| head``): nothing to say to anyone
            _silence_stdout()
            return EXIT_USAGE
        why = e.strerror or type(e).__name__
        if e.filename:
            _say(f"{e.filename}: {why}")
        elif e.errno in _WRITE_ERRNOS:
            _say(f"cannot write the output ({why})")
        else:
            _say(f"input or output failed ({why})")
        return EXIT_USAGE
    if isinstance(e, MemoryError):
        _say(_MEMORY_HINT)
        return EXIT_USAGE
    if isinstance(e, FloatingPointError | RuntimeWarning | OverflowError):
        _say(f"a result overflowed or is undefined ({e}); an input is far outside its plausible range")
        return EXIT_USAGE
    _say(f"internal error ({type(e).__name__}: {shown(str(e), 200)[1:-1]}); rerun with --debug for the "
         "traceback and please report it")
    return EXIT_INTERNAL


if __name__ == "__main__":
    main()
