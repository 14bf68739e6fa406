"""A fresh Colab kernel, simulated: every package Colab has, but not fcn_lesson, until the setup cell runs.

The virtual environment links in this machine's installed packages (Colab comes with torch,
torchvision, matplotlib ...) except fcn_lesson itself. The chapter's own setup cell then runs, with
its install source pointed at this checkout instead of the repository's branch on GitHub, followed by the chapter's
next cells.
"""
import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import nbformat
import plotly
import pytest

from fcn_lesson import notebooks

ROOT = Path(__file__).resolve().parent.parent

KERNEL = r'''
import ast, json, sys, types
try:
    import fcn_lesson
except ImportError:
    print("before the setup cell: no fcn_lesson")
else:
    raise SystemExit(f"fcn_lesson was importable before the setup cell: {fcn_lesson.__file__}")
sys.modules["google.colab"] = types.ModuleType("google.colab")  # what Colab's kernel has loaded
namespace, shown = {}, []
for source in json.load(open(sys.argv[1])):
    cell = ast.parse(source)
    last = cell.body.pop() if cell.body and isinstance(cell.body[-1], ast.Expr) else None
    exec(compile(cell, "<cell>", "exec"), namespace)
    if last is not None:  # a cell's last expression is displayed: Colab's page gets its bundle
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
        if hasattr(value, "_repr_mimebundle_"):
            shown.append(value._repr_mimebundle_())
json.dump(shown, open("displayed.json", "w"))
import fcn_lesson
print("fcn_lesson from", fcn_lesson.__file__)
'''


def colab_like_python(tmp_path: Path) -> Path:
    venv = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    for installed in map(Path, site.getsitepackages()):
        for entry in installed.iterdir():
            if "fcn_lesson" not in entry.name and not (target / entry.name).exists():
                (target / entry.name).symlink_to(entry)
    return python


def first_code_cells(chapter: str, count: int) -> list[str]:
    """The chapter's first ``count`` code cells, its setup cell installing this checkout, not the branch on GitHub."""
    notebook = nbformat.read(ROOT / "book" / chapter, as_version=4)
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"][:count]
    assert notebooks.install_source() in cells[0]
    cells[0] = cells[0].replace(notebooks.install_source(), ROOT.as_uri())
    return cells


def chapter_cells(chapter: str, *wanted: str) -> list[str]:
    """The chapter's setup and import cells, then its code cells that contain each of ``wanted``."""
    cells = first_code_cells(chapter, 2)
    code = [cell.source for cell in nbformat.read(ROOT / "book" / chapter, as_version=4).cells
            if cell.cell_type == "code"]
    return cells + [next(source for source in code if text in source) for text in wanted]


def run_in_colab_kernel(tmp_path: Path, cells: list[str]) -> str:
    """Run ``cells`` in a fresh Colab-like kernel, in a working directory with no repository around it
    (Colab's /content); its standard output. What the cells display is left in content/displayed.json."""
    python = colab_like_python(tmp_path)
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    (tmp_path / "kernel.py").write_text(KERNEL)
    content = tmp_path / "content"
    content.mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "FCN_LESSON_QUICK": "1", "MPLBACKEND": "Agg",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("FCN_LESSON_DATA", None)
    result = subprocess.run([python, str(tmp_path / "kernel.py"), str(tmp_path / "cells.json")], cwd=content,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_setup_cell_installs_fcn_lesson_and_a_figure_with_sliders_draws_in_a_fresh_colab_kernel(tmp_path):
    """One fresh kernel (the setup cell's install is the slow part): chapter 1's first cells, then chapter 4's
    figure with sliders. Colab shows a figure's HTML in the output's own frame, with no plotly.js of the
    book's: the HTML loads it from Plotly's CDN (Colab is online; here the CDN is this machine's copy)."""
    figure_cells = chapter_cells("04_upsampling.ipynb", "def constant_through", "interactive.upsampling_ruler(",
                                 "on_ones = [", "interactive.kernel_explorer(")[1:]
    stdout = run_in_colab_kernel(tmp_path, first_code_cells("01_task_data_scores.ipynb", 3) + figure_cells)
    assert "before the setup cell: no fcn_lesson" in stdout
    installed = Path(stdout.split("fcn_lesson from ")[-1].strip()).parent
    assert tmp_path / "colab" in installed.parents  # installed into the kernel's environment
    assert (installed / "reference" / "fcn8s.pt").exists()  # the chapters' shipped models came along
    assert (installed / "reference" / "results.npz").exists()  # and their stored scores
    assert "training and" in stdout  # the chapter's data cell ran: scenes made under ~/.cache
    assert (tmp_path / "home" / ".cache" / "fcn_lesson").is_dir()
    assert "flat: uniform 2, stride 2" in stdout  # chapter 4's figure cell ran
    (bundle,) = [shown for shown in json.loads((tmp_path / "content" / "displayed.json").read_text())
                 if "text/html" in shown and "fcn-interactive" in shown["text/html"]]
    page = tmp_path / "output.html"
    page.write_text(f"<html><body>{bundle['text/html']}</body></html>")
    if shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium (tests/install-browser.sh) to draw the figure")
    from playwright.sync_api import sync_playwright

    library = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page()
        fetched = []

        def serve(route):
            fetched.append(route.request.url)
            if route.request.url.startswith("https://cdn.plot.ly/"):
                route.fulfill(path=library, content_type="application/javascript")
            elif route.request.url.startswith("file:"):
                route.continue_()
            else:
                route.abort()

        tab.route("**/*", serve)
        tab.goto(page.as_uri())
        tab.locator(".fcn-interactive .main-svg").first.wait_for(timeout=20000)
        assert tab.locator(".fcn-interactive img").count() == 0  # the picture gave way to the figure
        assert tab.locator(".fcn-interactive .slider-rail-rect").count() == 2
        browser.close()
    assert any(url.startswith("https://cdn.plot.ly/plotly-") for url in fetched), fetched


def test_chapter_8_in_a_fresh_colab_kernel_offline_says_what_it_tried_and_the_manual_route(tmp_path):
    cells = first_code_cells("08_full_scale.ipynb", 3)
    assert "fullscale.voc_sets(" in cells[2]  # the data cell
    offline = ("import urllib.error, urllib.request\n"
               "def refuse(*args, **kwargs):\n"
               "    raise urllib.error.URLError('no network (simulated)')\n"
               "urllib.request.urlopen = refuse\n")
    stdout = run_in_colab_kernel(tmp_path, cells[:2] + [offline] + cells[2:])
    assert "in Colab: True" in stdout
    assert "no full-scale data here: could not download SBD" in stdout  # the first it needs
    assert "no answer (no network (simulated))" in stdout
    assert "By hand: get benchmark.tgz (MD5 82b4d87ceb2ed10f6038a1cba92111cb)" in stdout
    assert "SMOKE SCALE" in stdout
