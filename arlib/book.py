"""Small helpers for the book's notebooks.

``glue(name, value)`` records a measured value in the notebook's outputs in the format myst-nb reads,
so the page's text can quote it (``{glue:text}`name:.2f```) instead of a number typed by hand, and so
tests can read what a papermill run measured.
"""

from __future__ import annotations

from typing import Any

GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Record ``value`` under ``name`` (hidden unless ``display``); returns the value."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipython_display

    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipython_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
    return value


def read_glued(notebook: dict) -> dict[str, str]:
    """The text/plain value of every glued variable in an executed notebook (nbformat dict)."""
    values = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                values[scrapbook["name"]] = output["data"][scrapbook["mime_prefix"] + "text/plain"]
    return values
