"""The built book as readers see it: every page opened in headless Chromium with no network (tools/browser.py).

Chromium is Debian's package, installed by `make setup`; no test installs anything, so a missing browser is a
failure that names the command to run. A full-page screenshot of every page is saved under
`_build/screenshots/` for people to look at.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "_build" / "screenshots"


def _browser():
    spec = importlib.util.spec_from_file_location("book_browser", ROOT / "tools" / "browser.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


browser = _browser()


def _chromium_or_fail() -> str:
    try:
        return browser.chromium()
    except RuntimeError as missing:
        pytest.fail(str(missing))


def test_chromium_is_installed_by_the_set_up():
    assert Path(_chromium_or_fail()).is_file()


@pytest.fixture(scope="module")
def reports(html):
    _chromium_or_fail()
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    return {str(r.path.relative_to(html)): r for r in browser.inspect(browser.pages_of(html), SCREENSHOTS, html)}


def _problems(reports, kind: str) -> list[str]:
    return [p for r in reports.values() for p in browser.problems(r) if kind in p]


def test_every_page_is_opened_and_has_a_screenshot(reports, html):
    assert set(reports) == {str(p.relative_to(html)) for p in browser.pages_of(html)}
    assert {f"chapters/{stem}.html" for stem in CHAPTERS} | {"chapters/results.html"} <= set(reports)
    opened = [r for r in reports.values() if r.screenshot is not None]
    assert len(opened) >= len(CHAPTERS) + 2
    for report in opened:
        assert report.screenshot.stat().st_size > 10_000, report.screenshot  # a rendered page, not a blank PNG


def test_no_page_requests_another_host(reports):
    assert not _problems(reports, "requested")


def test_no_uncaught_script_errors(reports):
    assert not _problems(reports, "script error")


def test_all_maths_is_typeset(reports):
    for stem in CHAPTERS:
        assert reports[f"chapters/{stem}.html"].found["math"] > 0, f"{stem} shows no maths"
    assert not _problems(reports, "maths") + _problems(reports, "MathJax") + _problems(reports, "TeX")


def test_markdown_output_is_rendered(reports):
    assert not _problems(reports, "pipes")
    assert reports["chapters/results.html"].found["pipeTables"] == []


def test_every_figure_loads(reports):
    for stem in CHAPTERS:
        assert reports[f"chapters/{stem}.html"].found["images"] > 0, f"{stem} has no figure"
    assert not _problems(reports, "image")


def test_animations_step_and_audio_plays_without_a_kernel(reports):
    pages = [r.found for r in reports.values()]
    assert sum(len(found["animations"]) for found in pages) >= 2  # NADE and PixelCNN sampling
    assert len(reports["chapters/09_wavenet.html"].found["audio"]) > 0
    assert not _problems(reports, "animation") + _problems(reports, "audio") + _problems(reports, "ipywidget")


def test_every_chapter_has_an_explorer_and_every_explorer_responds(reports):
    for stem in CHAPTERS:
        explorers = reports[f"chapters/{stem}.html"].found["explorers"]
        assert explorers, f"{stem} has no explorer"
        for explorer in explorers:
            assert explorer["frames"] > 1 and len(explorer["moves"]) >= 2, (stem, explorer)
    assert not _problems(reports, "explorer")


def test_every_chapter_links_to_its_own_colab_notebook(reports):
    from tests.test_notebooks import _tools

    prefix = f"https://colab.research.google.com/github/{_tools().repository_url().removeprefix('https://github.com/')}"
    for stem in CHAPTERS:
        links = {link for link in reports[f"chapters/{stem}.html"].found["colab"] if "/chapters/" in link}
        assert links == {f"{prefix}/blob/main/chapters/{stem}.ipynb"}, stem


def test_no_internal_link_is_broken(reports, html):
    assert sum(len(r.found["links"]) for r in reports.values()) > 100
    assert not browser.broken_links(list(reports.values()), html)


PNG = ("data:image/png;base64,"  # one white pixel
       "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
BROKEN_PAGE = r"""<!DOCTYPE html><html><head><title>broken</title>
<script>window.MathJax = {options: {ignoreHtmlClass: 'no-maths'}};</script>
<script defer src="MATHJAX"></script></head><body><main>
<p><span class="math">\(\left( x\)</span> and <span class="math no-maths">\(x^2\)</span></p>
<p>| model | nll |<br>| --- | --- |<br>| made | 88 |</p>
<img src="http://example.invalid/figure.png"><img src="missing.png">
<a href="missing.html">a dead link</a> <a href="#nowhere">a dead anchor</a>
<div class="animation"><img><input type="range" max="0"><button title="Last frame"></button></div>
<audio src="data:audio/wav;base64,AAAA"></audio>
<div class="arlib-explorer" id="dead"><select data-parameter="p"><option value="0">a</option>
<option value="1">b</option></select>
<div class="arlib-explorer-frame" data-key="0"><img src="data:image/png;base64,AAAA"></div>
<div class="arlib-explorer-frame" data-key="1" hidden><img src="data:image/png;base64,AAAA"></div></div>
<div class="arlib-explorer" id="stuck"><input type="range" data-parameter="q" min="0" max="1" value="0">
<div class="arlib-explorer-frame" data-key="0"><img src="PNG"></div>
<div class="arlib-explorer-frame" data-key="1" hidden><img src="PNG"></div></div>
<script type="application/vnd.jupyter.widget-view+json">{}</script>
<script>undefinedFunction();</script>
</main></body></html>"""


def test_the_checks_catch_a_broken_page(tmp_path, html):
    """Every check above fails on a page that has the fault it looks for."""
    page = tmp_path / "broken.html"
    page.write_text(BROKEN_PAGE.replace("MATHJAX", (html / "_static" / "mathjax" / "tex-mml-chtml.js").as_uri())
                    .replace("PNG", PNG))
    (report,) = browser.inspect([page])
    found = "\n".join(browser.problems(report) + browser.broken_links([report], tmp_path))
    for fault in ["requested http://example.invalid/figure.png", "uncaught script error", "maths not typeset",
                  "MathJax error", "left as pipes", "image did not load: missing.png", "animation 0 is blank",
                  "audio 0 does not play", "ipywidget", "broken.html -> file://", "no element with that id",
                  "explorer dead shows no first frame", "explorer dead: frame for p = 1 does not show or decode",
                  "explorer stuck: moving q to 1 does not change the frame"]:
        assert fault in found, f"{fault!r} not reported in:\n{found}"
