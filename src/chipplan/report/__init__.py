"""Pictures of results: self-contained HTML files with plotly charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chipplan.errors import InputFileError


def check_html_path(path: str | Path) -> Path:
    """``path`` as a Path if it names an .html/.htm file, else an InputFileError naming ``--plot``."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputFileError(f"--plot: must name an .html file, got {str(path)!r}")
    return path


def write_html(fig: Any, path: str | Path) -> Path:
    """Write a plotly figure to ``path`` as self-contained HTML, atomically (nothing half-written); a folder
    that cannot be created or written is an InputFileError naming ``--plot``."""
    path = check_html_path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.write_html(tmp, include_plotlyjs=True, full_html=True)
        tmp.replace(path)
    except OSError as e:
        raise InputFileError(f"--plot: cannot write {str(path)!r}: {e.strerror or e}") from None
    return path
