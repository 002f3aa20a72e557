"""arlib.widgets.explore: one call, a live control in Jupyter/Colab and pre-rendered frames in the static book."""

from __future__ import annotations

import os
import re
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest

from arlib import widgets
from arlib.widgets import WIDGET_MIME, explore


@pytest.fixture(autouse=True)
def fresh_page(monkeypatch):
    """Every test starts a new page: no bytes embedded yet, live widgets allowed."""
    monkeypatch.setattr(widgets, "_page_bytes", 0)
    monkeypatch.delenv(widgets.STATIC_ONLY, raising=False)


def squares(size=2, shade="dark"):
    image = np.zeros((8, 8))
    image[:size, :size] = 1.0 if shade == "dark" else 0.5
    return image


def frames_of(static_html: str) -> list[tuple[str, bool]]:
    return [(key, bool(hidden)) for key, hidden in
            re.findall(r'class="arlib-explorer-frame" data-key="([\d,]+)"( hidden)?', static_html)]


def test_every_combination_is_rendered_once_and_cached():
    calls = []

    def fn(size, shade):
        calls.append((size, shade))
        return squares(size, shade)

    explorer = explore(fn, size=range(1, 4), shade=["dark", "light"])
    assert sorted(calls) == sorted((s, c) for s in (1, 2, 3) for c in ("dark", "light"))
    live = explorer.widget()
    size_control, shade_control, view = live.children
    size_control.value, shade_control.value = 2, 1  # third size, light
    assert view.value == explorer.frames[(2, 1)] != explorer.frames[(0, 0)]
    assert len(calls) == 6  # the live control only reads the cache


def test_the_bundle_has_a_live_widget_static_html_and_a_line_of_text():
    explorer = explore(squares, description="squares", size=[1, 2, 3])
    bundle = explorer._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", WIDGET_MIME}
    assert bundle[WIDGET_MIME]["model_id"] == explorer.live.model_id
    assert bundle["text/plain"] == "<Explorer: squares; 3 frames>"


def test_the_book_build_gets_no_live_widget(monkeypatch):
    monkeypatch.setenv(widgets.STATIC_ONLY, "1")
    assert set(explore(squares, size=[1, 2])._repr_mimebundle_()) == {"text/plain", "text/html"}


def test_static_is_an_explicit_choice_that_overrides_the_environment(monkeypatch):
    assert set(explore(squares, static=True, size=[1, 2])._repr_mimebundle_()) == {"text/plain", "text/html"}
    monkeypatch.setenv(widgets.STATIC_ONLY, "1")
    assert WIDGET_MIME in explore(squares, static=False, size=[1, 2])._repr_mimebundle_()


def test_static_html_shows_the_first_frame_without_js_and_loads_nothing():
    explorer = explore(squares, size=[1, 2, 3], shade=["dark", "light"])
    page = explorer.static_html
    assert frames_of(page) == [(f"{i},{j}", (i, j) != (0, 0)) for i in range(3) for j in range(2)]
    assert page.count('type="range"') == 1 and page.count("<select") == 1  # sorted numbers slide, words drop down
    assert page.count("data:image/png;base64,") == 6
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", page)


def test_figures_and_html_are_frames_too():
    def figure(colour):
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.plot([0, 1], color=colour)
        return fig

    before = len(plt.get_fignums())
    assert explore(figure, colour=["red", "blue"]).static_html.count("data:image/png;base64,") == 2
    assert len(plt.get_fignums()) == before  # every figure was closed after rendering
    page = explore(lambda word: f"<b>{word}</b>", word=["one", "two"]).static_html
    assert "<b>one</b>" in page and "<b>two</b>" in page


@pytest.mark.parametrize(("call", "message"), [
    (lambda: explore(squares, size=[]), "parameter 'size' has no values"),
    (lambda: explore(squares, size="big"), "parameter 'size' must be a list"),
    (lambda: explore(42, size=[1]), "fn must be callable"),
    (lambda: explore(squares), "at least one parameter"),
    (lambda: explore(lambda size: {"size": size}, size=[1]), "fn returned dict"),
    (lambda: explore(squares, size=range(300)), "thin out parameter 'size' (300 values)"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_byte_caps_name_the_parameter_to_thin_out(monkeypatch):
    noise = np.random.default_rng(0)

    def big(seed, shade):
        return noise.random((300, 300))

    with pytest.raises(ValueError, match=r"more than 2 MB: thin out parameter 'seed' \(40 values\)"):
        explore(big, seed=range(40), shade=["a", "b"])
    monkeypatch.setattr(widgets, "_page_bytes", widgets.MAX_PAGE_BYTES - 1000)
    with pytest.raises(ValueError, match="this page's explorers would take"):
        explore(squares, size=[1, 2])


def test_a_live_explorer_answers_a_frontend_through_a_real_kernel():
    """A real kernel shows the explorer; a frontend-style comm update of the slider changes the shown frame."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env={**os.environ, "ARLIB_STATIC_EXPLORERS": "0"})
    try:
        outputs = []
        code = ("import numpy as np\nfrom arlib.widgets import explore\n"
                "def bar(width):\n    image = np.zeros((4, 8))\n    image[:, :width] = 1\n    return image\n"
                "e = explore(bar, width=[1, 3, 5])\ndisplay(e)\n"
                "print(e.live.children[0].model_id, e.live.children[1].model_id)")
        client.execute_interactive(code, output_hook=outputs.append, timeout=120)
        shown = [m["content"]["data"] for m in outputs  # (the progress bar is displayed too)
                 if m["msg_type"] == "display_data" and "text/html" in m["content"]["data"]]
        assert shown and WIDGET_MIME in shown[0] and "text/html" in shown[0]
        slider_id, view_id = next(m["content"]["text"].split() for m in outputs if m["msg_type"] == "stream")
        update = client.session.msg("comm_msg", {"comm_id": slider_id, "data": {
            "method": "update", "state": {"index": 2}, "buffer_paths": []}})
        client.shell_channel.send(update)  # what a browser sends when the slider is dragged to its last value
        view_updates, deadline = [], time.monotonic() + 30
        while not view_updates and time.monotonic() < deadline:  # the kernel's answer: the view's new state
            message = client.get_iopub_msg(timeout=30)
            if message["msg_type"] == "comm_msg" and message["content"]["comm_id"] == view_id:
                view_updates.append(message["content"]["data"]["state"].get("value", ""))
        assert view_updates and "data:image/png;base64," in view_updates[0], "the kernel sent no new frame"
        replies = []
        client.execute_interactive("print(e.live.children[1].value == e.frames[(2,)] != e.frames[(0,)])",
                                   output_hook=replies.append, timeout=60)
        assert [m["content"]["text"].strip() for m in replies if m["msg_type"] == "stream"] == ["True"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
