"""``chipplan web``: the web app over the results store (FastAPI + uvicorn), on loopback by default."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from chipplan.commands._common import err_console, handle_errors
from chipplan.errors import FieldError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_examples() -> Path | None:
    """``./examples`` when run from a checkout, else the examples beside the installed source tree."""
    for p in (Path("examples"), Path(__file__).resolve().parents[3] / "examples"):
        if p.is_dir():
            return p
    return None


@handle_errors
def web_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    store: Path | None = typer.Option(None, "--store", help="Results store folder (default ./chipplan-runs or "
                                                            "$CHIPPLAN_STORE)."),
    examples: Path | None = typer.Option(None, "--examples", help="Folder of example scenarios the app offers "
                                                                  "(default ./examples)."),
) -> None:
    """Serve the web app: catalog browser, what-if forms, scenario runs with live progress, stored runs and
    diffs; the JSON API is documented at /docs."""
    import uvicorn

    from chipplan.store import default_path
    from chipplan.web import create_app

    if not 1 <= port <= 65535:
        raise FieldError("--port", "must be an integer in [1, 65535]", port)
    if not _loopback(host):
        err_console.print(f"warning: binding {host}: the app has no authentication and anyone who can reach this "
                          "address can run plans and read stored runs; use 127.0.0.1 unless you mean it",
                          markup=False, highlight=False)
    app = create_app(store=store or default_path(), examples=examples or default_examples())
    err_console.print(f"chipplan web on http://{host}:{port}/  (API docs at /docs)", markup=False, highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
