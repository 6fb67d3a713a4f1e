"""The app over a fresh store: in-process for the API tests (``client``), and live for the browser and load
tests (``live``: uvicorn on 127.0.0.1 with a free port, in a thread)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "scenario" / "data"
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def _app(tmp_path_factory, store: str):
    """The app over a new store folder ``store`` with the test scenarios as examples; its jobs stop after."""
    from chipplan.web import create_app

    app = create_app(store=tmp_path_factory.mktemp(store), examples=DATA)
    try:
        yield app
    finally:
        app.state.jobs.shutdown()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    with _app(tmp_path_factory, "store") as app, TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with _app(tmp_path_factory, "web-store") as app, Server(app) as s:
        yield s
