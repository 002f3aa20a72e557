"""The built book as readers see it: every page opened in headless Chromium with no network (tools/browser.py).

Chromium is Debian's package, installed by `make setup`; no test installs anything, so a missing browser is a
failure that names the command to run. A full-page screenshot of every page is saved under
`_build/screenshots/` for people to look at.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import shutil
import sys
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
API = "chapters/api.html"  # the API reference, generated from arlib's docstrings (chapters/api.md)


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
    assert {f"chapters/{stem}.html" for stem in CHAPTERS} | {"chapters/results.html", API} <= set(reports)
    opened = [r for r in reports.values() if r.screenshot is not None]
    assert len(opened) >= len(CHAPTERS) + 3
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


def _public_api() -> dict[str, object]:
    """Every public class and function of arlib by qualified name: the names in each module's ``__all__``
    (not arlib.grading, which is leaving the package for grader/)."""
    import arlib

    modules = ["arlib"] + [m.name for m in pkgutil.walk_packages(arlib.__path__, "arlib.")]
    public = {}
    for name in modules:
        if name.startswith("arlib.grading") or name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                public[f"{name}.{attr}"] = obj
    return public


def _resolve(qualified: str):
    """The object a documented name (``arlib.models.MADE.sample``) refers to, or None."""
    parts = qualified.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part, None)
        return obj
    return None


def test_the_api_page_documents_every_public_class_and_function(reports):
    documented = [_resolve(name) for name in reports[API].found["ids"] if name.startswith("arlib.")]
    missing = [name for name, obj in _public_api().items() if not any(obj is d for d in documented)]
    assert not missing, f"add the module of {missing} to chapters/api.md (one automodule line)"


def test_the_api_page_shows_the_signatures(reports, html):
    from arlib import models, train

    page = (html / API).read_text(encoding="utf-8")
    for name, obj in {"arlib.train.fit": train.fit, "arlib.models.MADE": models.MADE}.items():
        assert name in reports[API].found["ids"], f"{name} is not on the API page"
        entry = re.search(rf'<dt class="sig sig-object py" id="{re.escape(name)}">(.*?)</dt>', page, re.DOTALL)
        text = " ".join(unescape(re.sub(r"<[^>]+>", "", entry.group(1))).split())  # as a reader sees it
        shown = re.fullmatch(rf"(?:class )?{re.escape(name)}\((.*)\)#?", text)
        assert shown, f"{name}: no signature in {text!r}"
        parameters = [p.split("=")[0].lstrip("*") for p in shown.group(1).split(", ") if p not in ("*", "/")]
        assert parameters == list(inspect.signature(obj).parameters), (name, shown.group(0))


def test_every_chapter_links_to_the_api_entries_it_uses(reports, html):
    api = (html / API).resolve()
    ids = set(reports[API].found["ids"])
    for stem in CHAPTERS:
        links = [urlsplit(link) for link in reports[f"chapters/{stem}.html"].found["links"]]
        anchors = {unquote(link.fragment) for link in links if link.scheme == "file" and link.fragment
                   and Path(unquote(link.path)).resolve() == api}
        assert anchors, f"{stem} links to no entry of the API reference"
        assert anchors <= ids and all(a.startswith(("arlib.", "module-arlib")) for a in anchors), (stem, anchors - ids)


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
