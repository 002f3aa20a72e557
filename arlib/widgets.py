"""Explorers: move a control, see the model answer, live in Jupyter and Colab, pre-rendered in the book.

``explore(fn, temperature=[0.5, 1.0, 2.0], order=["raster", "random"])`` calls ``fn(**values)`` once for
every combination of the parameters' values (with a progress bar) and returns an :class:`Explorer`, whose
output carries three parts:

- ``application/vnd.jupyter.widget-view+json``: a live control made of core widgets only (``SelectionSlider``
  for numbers, ``Dropdown`` otherwise, an ``HTML`` view in a ``VBox``), so it works with ipywidgets 7 (Colab)
  and 8 alike. Every frame is cached, so moving a control answers at once;
- ``text/html``: the same explorer for a page without a kernel. Every frame is embedded (images as data
  URIs); one ``<input type=range>`` or ``<select>`` per parameter and a few lines of inline JS show the
  chosen frame. The first frame shows without JS, and nothing is loaded from another host;
- ``text/plain``: one line saying what it explores.

``fn`` returns a matplotlib figure, an image array (H, W) or (H, W, 3 or 4) with values in [0, 1], or HTML
(a ``str`` or anything with ``_repr_html_``, such as ``IPython.display.Audio``). The first value of every
parameter is the frame shown first. ``static=True`` leaves the live control out (static HTML only);
``static=None``, the default, takes it from the environment: static when ``ARLIB_STATIC_EXPLORERS=1`` is
set, as the book build does.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import numbers
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from arlib.utils import progress_bar

MAX_FRAMES = 240                 # frames in one explorer
MAX_BYTES = 2_000_000            # bytes of one explorer's static HTML
MAX_PAGE_BYTES = 6_000_000       # bytes of all explorers made in one kernel (one page of the book)
STATIC_ONLY = "ARLIB_STATIC_EXPLORERS"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

_page_bytes = 0                  # what this kernel's explorers have embedded so far
_count = 0                       # explorers made so far: numbers their element ids


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _slides(values: list) -> bool:
    """Increasing numbers get a slider (range); anything else a drop-down (select)."""
    return len(values) > 1 and all(_is_number(v) for v in values) and values == sorted(values)


def _png_html(png: bytes) -> str:
    return f'<img alt="frame" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def frame_html(result: Any, dpi: int = 80) -> str:
    """One frame as self-contained HTML: a figure or an image array becomes an embedded PNG."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    if isinstance(result, Figure):
        buffer = io.BytesIO()
        result.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(result)
        return _png_html(buffer.getvalue())
    if hasattr(result, "_repr_html_"):
        return result._repr_html_()
    if isinstance(result, str):
        return result
    if hasattr(result, "detach"):  # a torch tensor
        result = result.detach().cpu().numpy()
    if isinstance(result, np.ndarray) and (result.ndim == 2 or (result.ndim == 3 and result.shape[-1] in (3, 4))):
        buffer = io.BytesIO()
        plt.imsave(buffer, np.clip(result.astype(np.float32), 0, 1), format="png", cmap="gray_r", vmin=0, vmax=1)
        return _png_html(buffer.getvalue())
    raise ValueError(f"fn returned {type(result).__name__}; expected a matplotlib Figure, an image array "
                     "(H, W) or (H, W, 3|4), or HTML (a str or an object with _repr_html_)")


class Explorer:
    """A function of a few parameters, rendered for every combination of their values (see the module)."""

    def __init__(self, fn: Callable[..., Any], params: dict[str, Iterable], description: str = "",
                 static: bool | None = None) -> None:
        if not callable(fn):
            raise ValueError(f"fn must be callable (a function of {', '.join(params) or 'the parameters'}); "
                             f"got {type(fn).__name__}")
        if not params:
            raise ValueError("explore needs at least one parameter, e.g. explore(fn, temperature=[0.5, 1, 2])")
        self.fn = fn
        self.params = {}
        for name, values in params.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise ValueError(f"parameter {name!r} must be a list of values or a range; got {values!r}")
            values = list(values)
            if not values:
                raise ValueError(f"parameter {name!r} has no values")
            self.params[name] = values
        self.description = description or f"{getattr(fn, '__name__', 'fn')} explored over {', '.join(self.params)}"
        self.static = static if static is not None else os.environ.get(STATIC_ONLY, "") in ("1", "true", "yes")
        self._check_frame_count()
        global _count
        _count += 1
        self.element_id = f"arlib-explorer-{_count}"
        self.frames: dict[tuple[int, ...], str] = {}
        keys = list(itertools.product(*(range(len(v)) for v in self.params.values())))
        for key in progress_bar(keys, desc="rendering frames", leave=False):
            self._render(key)
        self.static_html = self._static_html()
        self._check_bytes()

    def _render(self, key: tuple[int, ...]) -> str:
        if key not in self.frames:
            values = {name: values[i] for (name, values), i in zip(self.params.items(), key, strict=True)}
            self.frames[key] = frame_html(self.fn(**values))
        return self.frames[key]

    def _thinnest_advice(self) -> str:
        name, values = max(self.params.items(), key=lambda item: len(item[1]))
        return f"thin out parameter {name!r} ({len(values)} values)"

    def _check_frame_count(self) -> None:
        count = int(np.prod([len(v) for v in self.params.values()]))
        if count > MAX_FRAMES:
            raise ValueError(f"{count} frames is more than an explorer holds ({MAX_FRAMES}): "
                             f"{self._thinnest_advice()}")

    def _check_bytes(self) -> None:
        global _page_bytes
        size = len(self.static_html.encode())
        if size > MAX_BYTES:
            raise ValueError(f"the explorer's frames take {size / 1e6:.1f} MB, more than {MAX_BYTES / 1e6:.0f} MB: "
                             f"{self._thinnest_advice()}, or make each frame smaller")
        if _page_bytes + size > MAX_PAGE_BYTES:
            raise ValueError(f"this page's explorers would take {(_page_bytes + size) / 1e6:.1f} MB, more than "
                             f"{MAX_PAGE_BYTES / 1e6:.0f} MB: {self._thinnest_advice()}, or make each frame smaller")
        _page_bytes += size

    def _static_html(self) -> str:
        controls = []
        for name, values in self.params.items():
            labels = [_label(v) for v in values]
            attributes = f'data-parameter="{html.escape(name)}" data-labels="{html.escape(json.dumps(labels))}"'
            if _slides(values):
                control = (f'<input type="range" {attributes} min="0" max="{len(values) - 1}" step="1" value="0">'
                           f' <output>{html.escape(labels[0])}</output>')
            else:
                options = "".join(f'<option value="{i}">{html.escape(label)}</option>'
                                  for i, label in enumerate(labels))
                control = f"<select {attributes}>{options}</select>"
            controls.append(f'<label style="margin-right:1.5em">{html.escape(name)} {control}</label>')
        first = (0,) * len(self.params)
        frames = "\n".join(  # one line per frame
            f'<div class="arlib-explorer-frame" data-key="{",".join(map(str, key))}"'
            f'{"" if key == first else " hidden"}>{frame}</div>' for key, frame in self.frames.items())
        script = (
            "(function () {\n"
            f'  var box = document.getElementById("{self.element_id}");\n'
            '  var inputs = Array.prototype.slice.call(box.querySelectorAll("[data-parameter]"));\n'
            "  function show() {\n"
            '    var key = inputs.map(function (e) { return e.value; }).join(",");\n'
            '    box.querySelectorAll(".arlib-explorer-frame").forEach(function (f) {\n'
            "      f.hidden = f.getAttribute('data-key') !== key; });\n"
            "    inputs.forEach(function (e) {\n"
            '      var out = e.parentNode.querySelector("output");\n'
            "      if (out) out.textContent = JSON.parse(e.getAttribute('data-labels'))[e.value]; });\n"
            "  }\n"
            '  inputs.forEach(function (e) { e.addEventListener("input", show); });\n'
            "})();")
        return (f'<div class="arlib-explorer" id="{self.element_id}">\n'
                f'<div class="arlib-explorer-controls">{"".join(controls)}</div>\n'
                f"{frames}\n<script>\n{script}\n</script></div>")

    def widget(self):
        """The live control: one core widget per parameter above an HTML view of the chosen frame."""
        import ipywidgets as widgets

        controls = []
        for name, values in self.params.items():
            options = [(_label(v), i) for i, v in enumerate(values)]
            if _slides(values):
                controls.append(widgets.SelectionSlider(options=options, value=0, description=name,
                                                        continuous_update=False))
            else:
                controls.append(widgets.Dropdown(options=options, value=0, description=name))
        view = widgets.HTML(value=self.frames[(0,) * len(controls)])

        def update(_change=None) -> None:
            view.value = self._render(tuple(control.value for control in controls))

        for control in controls:
            control.observe(update, names="value")
        return widgets.VBox([*controls, view])

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": f"<Explorer: {self.description}; {len(self.frames)} frames>",
                                  "text/html": self.static_html}
        if not self.static:
            try:
                self.live = self.widget()  # kept alive with the explorer
            except ImportError:
                return bundle
            bundle[WIDGET_MIME] = {"version_major": 2, "version_minor": 0, "model_id": self.live.model_id}
        return bundle


def explore(fn: Callable[..., Any], *, description: str = "", static: bool | None = None,
            **params: Iterable) -> Explorer:
    """An explorer of ``fn(**values)`` over every combination of ``params`` (each a list of values or a range);
    ``static`` as in the module's description."""
    return Explorer(fn, params, description, static)
