"""Open every page of the built book in headless Chromium, offline, and report what a reader would see broken.

    python tools/browser.py _build/html [--screenshots _build/screenshots]

Drives Debian's Chromium (installed by `make setup`, see ../shared/TOOLCHAIN.md) through Playwright. Any
request that leaves the machine is recorded and refused, so a page that needs the network shows it. For each
page it records: outside requests, uncaught script errors, maths MathJax did not typeset (or typeset with an
error), Markdown tables left as pipes, images that did not load, animations that are blank or do not step,
explorers whose controls do not change the shown frame (each value of a select, the ends and the middle of a
range) or whose frames do not decode, explorers over the page's byte budget, audio that does not decode,
ipywidgets (the book ships no widget JS, so a widget would be blank), the Colab links, every link and every
element id. `broken_links` checks the links against the ids of all pages.
`tests/test_browser.py` turns each finding into a failing test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
REDIRECT = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)
NOTHING_FOUND = {"math": 0, "mathUnrendered": [], "mathErrors": 0, "leftoverTex": [], "pipeTables": [], "images": 0,
                 "brokenImages": [], "animations": [], "explorers": [], "audio": [], "widgets": 0, "colab": [],
                 "links": [], "ids": []}
EXPLORER_PAGE_BYTES = 6_000_000  # all explorers of one page (arlib.widgets.MAX_PAGE_BYTES)

# Run in the page once it has loaded and MathJax has finished. Text checks skip code and notebook outputs
# shown as text (<pre>), where TeX or pipes may be exactly what the author meant to show.
INSPECT_JS = r"""
async () => {
  const visibleText = (root) => {
    const copy = root.cloneNode(true);
    copy.querySelectorAll('pre, code, script, style, textarea, mjx-container, mjx-assistive-mml')
        .forEach(e => e.remove());
    return copy.innerText || copy.textContent || '';
  };
  const main = document.querySelector('main, article, [role=main]') || document.body;
  const text = visibleText(main);
  const leftoverTex = [...text.matchAll(/\\\(|\\\[|\$\$|\\(?:begin|frac|sum|prod|mathbf|log|theta)\b/g)]
      .map(m => text.slice(Math.max(0, m.index - 30), m.index + 30));
  const pipeTables = text.split('\n').filter(line => /^\s*\|.*\|\s*$/.test(line) && /\|\s*[-—–:]{2,}\s*\|/.test(line));
  const images = [...document.images].filter(img => !img.closest('.animation'));
  const animations = [];
  for (const box of document.querySelectorAll('.animation')) {
    const img = box.querySelector('img');
    const slider = box.querySelector('input[type=range]');
    const first = img ? img.src : '';
    const last = box.querySelector('button[title="Last frame"]');
    if (last) last.click();
    await new Promise(r => setTimeout(r, 50));
    const lastSrc = img ? img.src : '';
    const firstButton = box.querySelector('button[title="First frame"]');
    if (firstButton) firstButton.click();
    await new Promise(r => setTimeout(r, 50));
    animations.push({frames: slider ? Number(slider.max) + 1 : 0, loaded: !!img && img.complete && img.naturalWidth > 0,
                     steps: !!first && !!lastSrc && first !== lastSrc});
  }
  const explorers = [];
  for (const box of document.querySelectorAll('.arlib-explorer')) {
    const shown = () => [...box.querySelectorAll('.arlib-explorer-frame')].filter(f => !f.hidden);
    const decoded = async (frame) => {
      const img = frame ? frame.querySelector('img') : null;
      if (!img) return true;
      if (!img.complete) await new Promise(r => { img.onload = r; img.onerror = r; setTimeout(r, 2000); });
      return img.naturalWidth > 0;
    };
    const first = shown();
    const found = {id: box.id, bytes: box.outerHTML.length, controls: 0,
                   frames: box.querySelectorAll('.arlib-explorer-frame').length,
                   firstShown: first.length === 1 && await decoded(first[0]), moves: []};
    for (const control of box.querySelectorAll('[data-parameter]')) {
      found.controls += 1;
      const start = control.value;
      const values = control.tagName === 'SELECT' ? [...control.options].map(o => o.value)
          : [...new Set([control.min, String(Math.round((+control.min + +control.max) / 2)), control.max])];
      for (const value of values) {
        const before = shown()[0];
        const unchanged = value === control.value;  // the control already shows this value
        control.value = value;
        control.dispatchEvent(new Event('input', {bubbles: true}));
        const after = shown();
        const differs = after.length === 1 && !!before && after[0] !== before
            && after[0].innerHTML !== before.innerHTML;
        found.moves.push({parameter: control.getAttribute('data-parameter'), value, shown: after.length,
                          changed: unchanged || differs, decoded: after.length === 1 && await decoded(after[0])});
      }
      control.value = start;
      control.dispatchEvent(new Event('input', {bubbles: true}));
    }
    explorers.push(found);
  }
  const audio = [];
  for (const a of document.querySelectorAll('audio')) {
    if (!(a.readyState >= 1)) {
      await new Promise(r => { a.addEventListener('loadedmetadata', r, {once: true});
                               a.addEventListener('error', r, {once: true}); a.load(); setTimeout(r, 3000); });
    }
    audio.push({duration: a.duration || 0, error: a.error ? a.error.code : 0});
  }
  return {
    title: document.title,
    math: document.querySelectorAll('.math').length,
    mathUnrendered: [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'))
        .map(e => e.textContent.slice(0, 60)),
    mathErrors: document.querySelectorAll('mjx-merror').length,
    leftoverTex, pipeTables,
    images: images.length,
    brokenImages: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src').slice(0, 80)),
    animations, explorers, audio,
    widgets: document.querySelectorAll('script[type*="jupyter.widget"], .jupyter-widgets').length,
    colab: [...document.querySelectorAll('a[href^="https://colab.research.google.com/"]')].map(a => a.href),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  };
}
"""


@dataclass
class PageReport:
    """What one page showed in the browser."""

    path: Path
    outside_requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    found: dict = field(default_factory=lambda: dict(NOTHING_FOUND))
    screenshot: Path | None = None


INSTALL_CHROMIUM = "sudo apt-get install -y chromium"  # what `make setup` runs as root (Makefile: chromium)


def chromium() -> str:
    """The path of Debian's Chromium. Installing it is the set-up's job (`make setup`), never a test's."""
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError(f"Chromium is not installed: run `make setup` as root, or `{INSTALL_CHROMIUM}`")
    return path


def _refuser(report: PageReport):
    """A route handler that records a request leaving the machine and refuses it."""
    def refuse(route) -> None:
        report.outside_requests.append(route.request.url)
        route.abort()

    return refuse


def pages_of(html: Path) -> list[Path]:
    """Every HTML page a reader can reach (not the theme's template fragments under _static/)."""
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts)


def inspect(pages: list[Path], screenshots: Path | None = None, root: Path | None = None) -> list[PageReport]:
    """Open each page in one offline headless Chromium; optionally save a full-page screenshot of each."""
    from playwright.sync_api import sync_playwright

    reports = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1600})

        for path in pages:
            report = PageReport(path)
            reports.append(report)
            redirect = REDIRECT.search(path.read_text(encoding="utf-8", errors="replace"))
            if redirect:  # a redirect stub (index.html): its target is checked as a link, not opened
                report.found["links"] = [(path.parent / redirect.group(1)).resolve().as_uri()]
                continue

            context.route(lambda url: not url.startswith(LOCAL_SCHEMES), _refuser(report))
            page = context.new_page()
            page.on("pageerror", lambda error, report=report: report.script_errors.append(str(error)))
            page.goto(path.as_uri(), wait_until="load")
            page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                          " ? MathJax.startup.promise.then(() => true) : false")
            report.found = page.evaluate(INSPECT_JS)
            if screenshots is not None:
                name = str(path.relative_to(root or path.parent)).replace(os.sep, "__").removesuffix(".html")
                screenshots.mkdir(parents=True, exist_ok=True)
                report.screenshot = screenshots / f"{name}.png"
                page.screenshot(path=report.screenshot, full_page=True)
            page.close()
            context.unroute_all()
        browser.close()
    return reports


def broken_links(reports: list[PageReport], html: Path) -> list[str]:
    """Links inside the book whose file does not exist or whose #anchor is no element id of the target page."""
    ids = {report.path.resolve(): set(report.found.get("ids", [])) for report in reports}
    broken = []
    for report in reports:
        for link in report.found.get("links", []):
            parts = urlsplit(link)
            if parts.scheme != "file":
                continue
            target = Path(unquote(parts.path)).resolve()
            if not target.exists():
                broken.append(f"{report.path.name} -> {link}")
            elif parts.fragment and target in ids and unquote(parts.fragment) not in ids[target]:
                broken.append(f"{report.path.name} -> {link} (no element with that id)")
    return broken


def problems(report: PageReport) -> list[str]:
    """Everything wrong with one page, in words (the Colab link is checked by the test, which knows the repo)."""
    found, name = report.found, report.path.name
    issues = [f"{name}: requested {url}" for url in dict.fromkeys(report.outside_requests)]
    issues += [f"{name}: uncaught script error: {error}" for error in report.script_errors]
    issues += [f"{name}: maths not typeset: {text!r}" for text in found["mathUnrendered"]]
    issues += [f"{name}: MathJax error"] * found["mathErrors"]
    issues += [f"{name}: TeX left in the text: {text!r}" for text in found["leftoverTex"]]
    issues += [f"{name}: Markdown table left as pipes: {line[:60]!r}" for line in found["pipeTables"]]
    issues += [f"{name}: image did not load: {src}" for src in found["brokenImages"]]
    for i, anim in enumerate(found["animations"]):
        if not (anim["loaded"] and anim["frames"] > 1 and anim["steps"]):
            issues.append(f"{name}: animation {i} is blank or does not step: {anim}")
    for explorer in found["explorers"]:
        label = f"{name}: explorer {explorer['id']}"
        if not explorer["firstShown"] or not explorer["controls"]:
            issues.append(f"{label} shows no first frame or has no control: {explorer}")
        for move in explorer["moves"]:
            if move["shown"] != 1 or not move["decoded"]:
                issues.append(f"{label}: frame for {move['parameter']} = {move['value']} does not show or decode")
            elif not move["changed"]:
                issues.append(f"{label}: moving {move['parameter']} to {move['value']} does not change the frame")
    explorer_bytes = sum(explorer["bytes"] for explorer in found["explorers"])
    if explorer_bytes > EXPLORER_PAGE_BYTES:
        issues.append(f"{name}: explorers take {explorer_bytes:,} bytes, over the page budget {EXPLORER_PAGE_BYTES:,}")
    issues += [f"{name}: audio {i} does not play: {a}" for i, a in enumerate(found["audio"])
               if a["error"] or not a["duration"] > 0]
    if found["widgets"]:
        issues.append(f"{name}: {found['widgets']} ipywidget(s), which the static book cannot show")
    return issues


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, default=Path("_build/screenshots"))
    args = parser.parse_args()
    html = args.html.resolve()
    reports = inspect(pages_of(html), args.screenshots, html)
    found = [issue for report in reports for issue in problems(report)] + broken_links(reports, html)
    print(f"{len(reports)} pages, {sum(r.screenshot is not None for r in reports)} screenshots in {args.screenshots}")
    print("\n".join(found) or "no problems found")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
