"""The chipplan web app (FastAPI + uvicorn): ``chipplan web``; see :func:`chipplan.web.app.create_app`."""

from __future__ import annotations

from chipplan.web.app import create_app

__all__ = ["create_app"]
