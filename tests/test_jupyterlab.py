"""A figure with sliders in JupyterLab, as a student running a chapter locally sees it: a real
JupyterLab server, headless Chromium, no network but the server's. JupyterLab draws the figure's
Plotly data with the renderer the plotly wheel installs (no plotly.js of the book's, no CDN): it
shows the figure's picture until the mouse enters it, then the live figure."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.sign import NotebookNotary

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (tests/install-browser.sh)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stored_figure_notebook(folder: Path) -> Path:
    """Chapter 4's figure cell with its stored outputs, alone in a notebook, signed as trusted (as
    a notebook the student ran is)."""
    chapter = nbformat.read(ROOT / "book" / "04_upsampling.ipynb", as_version=4)
    cell = next(c for c in chapter.cells if "interactive.kernel_explorer(" in c.source)
    notebook = nbformat.v4.new_notebook(cells=[cell], metadata=chapter.metadata)
    (folder / "data").mkdir()
    NotebookNotary(data_dir=str(folder / "data")).sign(notebook)
    path = folder / "work" / "figure.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    return path


def test_jupyterlab_draws_the_stored_figure_and_its_slider_moves(tmp_path):
    notebook = stored_figure_notebook(tmp_path)
    port, token = free_port(), "fcn-lesson-test"
    env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "run"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
                               "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={notebook.parent}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within a minute")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            outside = []

            def local_only(route):
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", local_only)
            page.goto(f"{base}/lab/tree/{notebook.name}?token={token}")
            figure = page.locator(".jp-RenderedPlotly").first
            figure.wait_for(timeout=180000)  # JupyterLab takes most of a minute to start on two cores
            figure.scroll_into_view_if_needed()
            figure.hover()  # the renderer shows the stored picture until the mouse enters it
            figure.locator(".main-svg").first.wait_for(timeout=60000)
            rails = figure.locator(".slider-rail-rect")
            assert rails.count() == 2
            kernel = figure.locator(".draglayer .xy .nsewdrag").first
            before = kernel.screenshot()
            rail = rails.first.bounding_box()
            page.mouse.click(rail["x"] + 0.03 * rail["width"], rail["y"] + rail["height"] / 2)
            page.wait_for_timeout(500)
            assert kernel.screenshot() != before, "moving the factor slider did not redraw the kernel"
            browser.close()
        assert not [url for url in outside if "plot.ly" in url], outside
    finally:
        server.terminate()
        server.wait(timeout=30)
