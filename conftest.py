"""How pytest-xdist shares the suite between its two processes (``--dist loadgroup``, pyproject.toml).

A notebook's cells run in one kernel, in order, so each notebook is one group
that goes to one process whole; so is each test module whose tests share an
expensive module-wide fixture (it says so with its own ``xdist_group`` mark).
Every other test is handed out on its own, which keeps both processes busy to
the end of the run.
"""
import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.xdist_group(item.path.relative_to(config.rootpath).as_posix()))
