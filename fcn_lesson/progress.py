"""Progress bars where someone watches them, and nowhere else.

A person watches in a terminal, in Colab, and in a notebook that a Jupyter
server (JupyterLab) runs; there the bar is tqdm's, a widget in Jupyter
(ipywidgets, which the requirements install and Colab has). Nobody watches
a notebook executed for the book or the tests, nor a CI log: every redraw
of a bar would stay in the output as one more line, so there is none, and
the one line per epoch that ``fit`` prints says what matters.
"""
from __future__ import annotations

import os
import sys

try:  # tqdm's notebook bar draws with ipywidgets, and warns without them
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
    _WIDGETS = True
except ImportError:
    from tqdm import tqdm
    _WIDGETS = False

__all__ = ["live", "tqdm"]


def live() -> bool:
    """Whether a bar would be watched: a terminal, or a notebook in Colab or under a Jupyter server
    (which names the kernel's session in ``JPY_SESSION_NAME``; the book's and nbval's runs do not)."""
    if sys.stderr.isatty():
        return True
    in_notebook_server = "google.colab" in sys.modules or "JPY_SESSION_NAME" in os.environ
    return _WIDGETS and in_notebook_server
