"""The built book as a reader meets it, in headless Chromium: every page of a fresh build of the stored outputs.

Checks, page by page: no Sphinx error boxes or notebook tracebacks; every internal link and anchor
resolves; every image loads; math is typeset by MathJax (served with the book, so offline too);
chapter pages carry their Colab launch button and every figure their notebook draws; the preface opens
every chapter of the student edition (Colab, download); solution dropdowns open when clicked.
Screenshots of the preface, its architecture diagram, chapter 5's ruler and chapter 7 are kept in
_build/screenshots.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
import yaml

import fcn_lesson
from fcn_lesson import notebooks

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]

# Jupyter Book 1 adds sphinx-thebe's configuration script twice to every page; the second, identical
# `const` declaration fails harmlessly. Any other JavaScript error fails the test.
KNOWN_JS_ERRORS = {"Identifier 'THEBE_JS_URL' has already been declared"}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (tests/install-browser.sh)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A fresh build of the whole book, warnings as errors, the chapters shown with the outputs stored
    in their notebooks (the preface, a text page, is executed).

    The build does not execute the chapters again: nbval runs every one of them top to bottom
    (and the book build of the README executes them all), so this test checks what a reader
    meets, the pages as rendered, not a third execution."""
    out = tmp_path_factory.mktemp("site")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["exclude_patterns"] = ["*.ipynb"]
    stored = out / "_config.yml"
    stored.write_text(yaml.safe_dump(config))
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "--config",
                             str(stored), "-W", "-n", "--keep-going"], capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[:8000]
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def pages(site):
    return sorted(p for p in site.glob("book/*.html"))


def open_page(browser, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors


def local_target(href):
    url = urlparse(href)
    return (Path(unquote(url.path)), url.fragment) if url.scheme == "file" else (None, None)


def test_the_build_has_every_page(site):
    names = {p.stem for p in pages(site)}
    chapters = {p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb")}
    assert chapters <= names and {"intro", "references", "instructors"} <= names


def test_every_page_renders_cleanly_with_working_links_images_and_math(site, browser):
    ids = {}
    for path in pages(site):
        page, errors = open_page(browser, path)
        name = path.stem
        assert page.locator(".system-message, .problematic").count() == 0, f"{name}: a Sphinx error box"
        assert "Traceback (most recent call last)" not in page.inner_text("main"), f"{name}: a notebook error"
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            target, fragment = local_target(href)
            if target is None:
                continue
            assert target.exists(), f"{name}: broken link {href}"
            if fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(re.findall(r'id="([^"]+)"', target.read_text()))
                assert fragment in ids[target], f"{name}: link to a missing anchor {href}"
        broken = page.eval_on_selector_all("img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                                                   ".map(i => i.src)")
        assert not broken, f"{name}: images that do not load: {broken}"
        if page.locator(".math").count():
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.document", timeout=20000)
            page.evaluate("() => MathJax.startup.promise")
            untypeset = page.eval_on_selector_all(".math", "els => els.filter(e => !e.querySelector('mjx-container'))"
                                                           ".map(e => e.textContent)")
            assert not untypeset, f"{name}: math left as TeX: {untypeset[:3]}"
        assert not set(errors) - KNOWN_JS_ERRORS, f"{name}: JavaScript errors {errors}"
        page.close()


@pytest.mark.parametrize("notebook", sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_chapter_pages_launch_in_colab_and_show_every_figure(site, browser, notebook):
    page, _ = open_page(browser, site / "book" / f"{notebook.stem}.html")
    repository = urlparse(fcn_lesson.REPOSITORY).path  # /owner/name
    colab = page.eval_on_selector_all("a[href*='colab.research.google.com']", "links => links.map(a => a.href)")
    assert any(href.endswith(f"{repository}/blob/main/book/{notebook.name}") for href in colab), colab
    drawn = sum(cell.source.count("plt.show()") for cell in nbformat.read(notebook, as_version=4).cells
                if cell.cell_type == "code")
    shown = page.locator(".cell_output img").count()
    assert shown >= drawn, f"{notebook.stem}: {drawn} figures drawn, {shown} on the page"
    assert shown >= 1, f"{notebook.stem}: a chapter without a single figure"
    setup = notebooks.setup_cell().splitlines()[0]  # the cell's opening comment
    assert setup not in page.inner_text("main"), "the Colab setup cell should be hidden"
    page.close()


def test_the_preface_opens_every_chapter_without_solutions_in_one_click(site, browser):
    page, _ = open_page(browser, site / "book" / "intro.html")
    colab = page.locator(f"a[href*='colab.research.google.com'][href*='/{notebooks.STUDENT_EDITION}/book/']")
    downloads = page.locator("main a.download")
    appendices = sorted((ROOT / "book").glob("appendix_*.ipynb"))
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")) + [
        path for path in appendices if notebooks.exercises([path])]  # those with an exercise
    assert colab.count() == downloads.count() == len(chapters)
    for index, chapter in enumerate(chapters):
        student = f"{notebooks.STUDENT_EDITION}/book/{chapter.name}"
        assert colab.nth(index).get_attribute("href") == notebooks.colab_url(student)
        target, _ = local_target(downloads.nth(index).evaluate("a => a.href"))
        assert target.read_bytes() == (ROOT / student).read_bytes(), chapter.name
        assert "solution-start" not in target.read_text(), chapter.name
    page.close()


def test_solution_dropdowns_open_when_clicked(site, browser):
    page, _ = open_page(browser, site / "book" / "07_skip_fusion.html")
    solutions = page.locator(".solution")
    assert solutions.count() >= 3
    for index in range(solutions.count()):
        solution = solutions.nth(index)
        body = solution.locator(":scope > section").first
        assert not body.is_visible(), "a solution should start folded"
        solution.locator("button.toggle-button").first.click()  # sphinx-togglebutton's button in the title
        body.wait_for(state="visible", timeout=5000)
    page.close()


def test_the_preface_shows_the_architecture_drawn_from_a_model(site, browser):
    page, _ = open_page(browser, site / "book" / "intro.html")
    diagram = page.locator(".cell_output img").first
    assert diagram.is_visible()
    assert "draw_fcn" not in page.inner_text("main"), "the preface shows the figure, not its code"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    diagram.screenshot(path=SCREENSHOTS / "architecture.png")
    assert (SCREENSHOTS / "architecture.png").stat().st_size > 10_000
    page.close()


def test_screenshot_of_chapter_5s_ruler(site, browser):
    page, _ = open_page(browser, site / "book" / "05_alignment.html")
    ruler = page.locator(".cell", has_text="viz.draw_ruler").locator(".cell_output img").first
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ruler.screenshot(path=SCREENSHOTS / "chapter5-ruler.png")
    assert (SCREENSHOTS / "chapter5-ruler.png").stat().st_size > 10_000
    page.close()


def test_screenshots_of_the_preface_and_chapter_7(site, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, stem in (("preface", "intro"), ("chapter7", "07_skip_fusion")):
        page, _ = open_page(browser, site / "book" / f"{stem}.html")
        page.screenshot(path=SCREENSHOTS / f"{name}.png")
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
        page.close()
    page, _ = open_page(browser, site / "book" / "07_skip_fusion.html")
    table = page.locator(".cell_output", has_text="what differs").first
    table.screenshot(path=SCREENSHOTS / "chapter7-results.png")
    page.close()


# The figures with sliders (fcn_lesson.interactive): for each page, per figure, which subplots each
# slider changes (Plotly names them xy, x2y2, ...). Moving a slider must change those and nothing
# else of the figure's plots.
SLIDERS = {"04_upsampling": [[["xy", "x2y2"], ["x3y3"]]],
           "05_alignment": [[["xy"], ["x2y2"], ["x3y3"]], [["xy", "x2y2"]]],
           "07_skip_fusion": [[["xy", "x2y2"], ["x3y3", "x2y2"]]]}


def changed_inside(before: bytes, after: bytes, boxes: list[dict], origin: dict) -> list[bool]:
    """For each box (page coordinates), whether any pixel in it differs between the two screenshots."""
    import io

    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int) for shot in (before, after))
    differs = (a != b).any(-1)
    inside = []
    for box in boxes:
        left, top = int(box["x"] - origin["x"]), int(box["y"] - origin["y"])
        inside.append(bool(differs[max(top, 0):top + int(box["height"]), max(left, 0):left + int(box["width"])].any()))
    return inside


def test_the_figures_with_sliders_draw_and_move_offline(site, browser):
    """Network off: plotly.js comes with the book. Each slider, moved, redraws its own subplots only."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    requests = []
    context.on("request", lambda request: requests.append(request.url))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stem, figures in SLIDERS.items():
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto((site / "book" / f"{stem}.html").as_uri())
        page.wait_for_load_state("load")
        drawn = page.locator(".fcn-interactive")
        assert drawn.count() == len(figures), f"{stem}: {drawn.count()} figures with sliders"
        for index, sliders in enumerate(figures):
            figure = drawn.nth(index)
            figure.locator(".main-svg").first.wait_for(timeout=20000)
            figure.scroll_into_view_if_needed()
            assert figure.locator("img").count() == 0, f"{stem}: the picture was not replaced by the figure"
            rails = figure.locator(".slider-rail-rect")
            assert rails.count() == len(sliders)
            for rail_index, controlled in enumerate(sliders):
                origin = figure.bounding_box()
                before = figure.screenshot()
                rail = rails.nth(rail_index).bounding_box()
                opens_at = figure.evaluate("(node, k) => node.layout.sliders[k].active / "
                                           "(node.layout.sliders[k].steps.length - 1)", rail_index)
                far_end = 0.97 if opens_at < 0.5 else 0.03  # move it as far as it goes
                page.mouse.click(rail["x"] + far_end * rail["width"], rail["y"] + rail["height"] / 2)
                page.wait_for_timeout(300)
                after = figure.screenshot(path=SCREENSHOTS / f"{stem}-slider-{index}-{rail_index}.png")
                areas = {n: figure.locator(f".draglayer .{n} .nsewdrag") for n in ("xy", "x2y2", "x3y3")}
                names = [n for n, area in areas.items() if area.count()]  # each subplot's plotting area
                boxes = [areas[n].first.bounding_box() for n in names]
                moved = dict(zip(names, changed_inside(before, after, boxes, origin)))
                expected = {n: n in controlled for n in names}
                assert moved == expected, f"{stem}, figure {index}, slider {rail_index}: changed {moved}"
        assert not set(errors) - KNOWN_JS_ERRORS, f"{stem}: JavaScript errors {errors}"
        page.close()
    assert all(url.startswith("file:") or url.startswith("data:") for url in requests), requests
    context.close()
