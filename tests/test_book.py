"""The published book: a full offline build with -W, then its HTML checked for what readers need."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
OUTSIDE = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)
CDN = re.compile(r"unpkg\.com|jsdelivr|cdnjs|googleapis|mathjax\.org", re.IGNORECASE)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The book built from the committed notebook outputs (nbval already re-executes every chapter and
    compares; `make book` executes them again). Same configuration otherwise, warnings are errors."""
    out = tmp_path_factory.mktemp("book")
    config = (ROOT / "_config.yml").read_text()
    assert "execute_notebooks: force" in config
    config = config.replace("execute_notebooks: force", 'execute_notebooks: "off"')
    config = config.replace("offline_assets: _ext", f"offline_assets: {ROOT / '_ext'}")  # relative to the config
    (out / "_config.yml").write_text(config)
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", "--all", "-W", "-n", "--keep-going",
               "--config", str(out / "_config.yml"), "--path-output", str(out), str(ROOT)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"


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
