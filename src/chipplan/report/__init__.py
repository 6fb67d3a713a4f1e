"""Pictures of results: plotly charts written as HTML (sharing one plotly.js beside them, or inline), or as
PNG/SVG through kaleido. Every chart uses one template (``TEMPLATE``): titles, axis titles with units, labelled
bands, and hover text that names the row's model, hardware and source."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chipplan.errors import InputFileError, OutputFileError

PLOT_SUFFIXES = (".html", ".htm", ".png", ".svg")
CHROMIUM = "/usr/bin/chromium"  # kaleido 1.x renders images in a Chromium; Debian's, if the user has not set one


def check_html_path(path: str | Path) -> Path:
    """``path`` as a Path if it names an .html/.htm (or .png/.svg) file that is not a directory, else an
    InputFileError naming ``--plot`` (checked before any work, so a bad name costs nothing)."""
    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputFileError(f"--plot: must name an .html, .png or .svg file, got {str(path)!r}")
    if path.is_dir():
        raise InputFileError(f"--plot: {str(path)!r} is a directory; give an .html file name")
    return path


def template() -> Any:
    """The chart template shared by every chipplan plot (white background, one font, unified hover, legend on
    top, axis titles kept clear of tick labels)."""
    import plotly.graph_objects as go

    return go.layout.Template(layout=go.Layout(
        font={"family": "Inter, Helvetica, Arial, sans-serif", "size": 13},
        paper_bgcolor="white", plot_bgcolor="white",
        colorway=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"],
        xaxis={"showgrid": True, "gridcolor": "#e5e5e5", "zeroline": False, "automargin": True, "ticks": "outside"},
        yaxis={"showgrid": True, "gridcolor": "#e5e5e5", "zeroline": False, "automargin": True, "ticks": "outside"},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0.0},
        hoverlabel={"namelength": -1}, margin={"t": 110, "l": 70, "r": 30, "b": 60},
        title={"x": 0.0, "xanchor": "left", "font": {"size": 16}},
    ))


def style(fig: Any, *, title: str, height: int = 520, width: int = 880) -> Any:
    """Apply the shared template and a title to ``fig`` (in place; returned for chaining)."""
    fig.update_layout(template=template(), title=title, height=height, width=width)
    return fig


def write_html(fig: Any, path: str | Path, *, inline: bool = False) -> Path:
    """Write ``fig`` to ``path``, atomically (nothing half-written).

    HTML files load one ``plotly.min.js`` written beside them (shared by every chart in the folder) unless
    ``inline`` embeds it (one self-contained file, ~5 MB). ``.png`` and ``.svg`` are rendered through kaleido.
    A folder that cannot be created or written is an error naming ``--plot``.
    """
    from chipplan.safeio import atomic_path

    path = check_html_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputFileError(f"--plot: cannot write {str(path)!r}: {e.strerror or e}") from None
    try:
        with atomic_path(path) as tmp:
            if path.suffix.lower() in (".png", ".svg"):
                if os.path.exists(CHROMIUM):
                    os.environ.setdefault("BROWSER_PATH", CHROMIUM)
                fig.write_image(tmp, format=path.suffix.lower()[1:])
            else:
                fig.write_html(tmp, include_plotlyjs=True if inline else "directory", full_html=True)
    except OutputFileError as e:
        raise InputFileError(f"--plot: {e}") from None
    except OSError as e:
        raise InputFileError(f"--plot: cannot write {str(path)!r}: {e.strerror or e}") from None
    except (RuntimeError, ValueError) as e:  # kaleido without a browser, or a renderer failure
        raise InputFileError(f"--plot: cannot render {path.suffix} ({e}); write .html instead") from None
    return path
