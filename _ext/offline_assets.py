"""Sphinx extension: make the built book readable with no network.

MathJax is copied from the ``django-static-mathjax`` package (a MathJax 3 distribution on PyPI) into
``_build/html/_static/mathjax/`` when the build finishes, and ``mathjax_path`` in ``_config.yml`` points
at it. It is deliberately not placed in the book's own ``_static/``: Jupyter Book would then link every
.js file in it from every page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx


def _mathjax_source() -> Path:
    import mathjax  # provided by django-static-mathjax

    source = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    if not (source / "tex-mml-chtml.js").exists():
        raise FileNotFoundError(f"MathJax's es5 build is missing from {source}")
    return source


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    shutil.copytree(_mathjax_source(), target, dirs_exist_ok=True)
    (target / "latest.js").unlink(missing_ok=True)  # the CDN loader; the pages use tex-mml-chtml.js


def _is_remote(script) -> bool:
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return str(script).startswith(("http:", "https:", "//")) or "https://" in body or "http://" in body


def _drop_remote_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Remove scripts that would load code from another host (sphinx-thebe's unused CDN loader)."""
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_remote(s)]


def setup(app: Sphinx) -> dict:
    _mathjax_source()  # fail early, before a long build, if the package is missing
    app.connect("build-finished", _copy_mathjax)
    app.connect("html-page-context", _drop_remote_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
