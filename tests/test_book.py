"""The published book: a full offline build with -W (the `html` fixture in conftest), then its HTML checked for
what readers need. tests/test_browser.py opens the same build in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
OUTSIDE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)
CDN = re.compile(r"unpkg\.com|jsdelivr|cdnjs|googleapis|mathjax\.org", re.IGNORECASE)


def test_every_chapter_page_is_built(html):
    for stem in CHAPTERS:
        assert (html / "chapters" / f"{stem}.html").exists()


def test_no_page_loads_anything_from_another_host(html):
    pages = list(html.rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not OUTSIDE.search(text), f"{page.name}: {OUTSIDE.search(text).group(0)}"
        assert not CDN.search(text), f"{page.name}: {CDN.search(text).group(0)}"


def test_mathjax_is_served_from_the_build(html):
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").exists()
    page = (html / "chapters" / f"{CHAPTERS[0]}.html").read_text()
    assert re.search(r'<script[^>]+src="[./]*_static/mathjax/tex-mml-chtml\.js', page)
    assert r"\prod" in page or "\\(" in page  # maths is present for MathJax to typeset


def test_every_chapter_has_its_own_colab_button(html):
    from tests.test_notebooks import _tools

    repository = _tools().repository_url().removeprefix("https://github.com/")
    for stem in CHAPTERS:
        page = (html / "chapters" / f"{stem}.html").read_text()
        links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page))
        prefix = f"https://colab.research.google.com/github/{repository}/blob/main/"
        assert {link for link in links if "/chapters/" in link} == {f"{prefix}chapters/{stem}.ipynb"}
        for link in links:  # any other Colab link (assignments) opens a notebook that exists in the repository
            assert link.startswith(prefix) and (ROOT / link.removeprefix(prefix)).is_file(), link


def test_figures_are_embedded(html):
    for stem in CHAPTERS:
        page = (html / "chapters" / f"{stem}.html").read_text()
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
        assert images, stem
        for src in images:
            assert (html / "chapters" / src).resolve().exists(), src


def test_results_page_shows_every_shipped_model_from_the_results_file(html):
    import json

    from arlib import pretrained

    page = (html / "chapters" / "results.html").read_text()
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert "Not measured yet" not in page, "run `make bench` and commit benchmarks/results.json"
    assert set(results["models"]["rows"]) == set(pretrained.available()), "run `make bench`: a shipped model is missing"
    for name, row in results["models"]["rows"].items():
        assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span></code>" in page
        assert f"{row['value']:,.3f}" in page
    assert f"{results['speed_classical']['nade_log_prob_speedup']:,.1f}×" in page
    assert f"{results['speed_sequence']['gpt_cache_speedup']:,.1f}×" in page
    assert f"{results['speed_image_audio']['wavenet_cache_speedup']:,.1f}×" in page
