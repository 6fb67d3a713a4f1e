"""Pictures of results: self-contained HTML files with plotly charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chipplan.errors import InputFileError, OutputFileError
from chipplan.safeio import atomic_path


def check_html_path(path: str | Path) -> Path:
    """``path`` as a Path if it names an .html/.htm file that is not a directory, else an InputFileError
    naming ``--plot`` (checked before any work, so a bad name costs nothing)."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputFileError(f"--plot: must name an .html file, got {str(path)!r}")
    if path.is_dir():
        raise InputFileError(f"--plot: {str(path)!r} is a directory; give an .html file name")
    return path


def write_html(fig: Any, path: str | Path) -> Path:
    """Write a plotly figure to ``path`` as self-contained HTML, atomically (``chipplan.safeio.atomic_path``:
    nothing half-written, no temporary file left on failure); a folder that cannot be created or written is an
    InputFileError naming ``--plot``."""
    path = check_html_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.write_html(tmp, include_plotlyjs=True, full_html=True)
    except OSError as e:
        raise InputFileError(f"--plot: cannot write {str(path)!r}: {e.strerror or e}") from None
    except OutputFileError as e:
        raise InputFileError(f"--plot: {e}") from None
    return path
