"""The book's notebooks as files: the Colab setup cell they all start with, and the student edition.

The setup cell is written here once, from :data:`fcn_lesson.REPOSITORY` and
``__version__``, so that the book and the module it installs cannot drift
apart (a test compares every chapter's first code cell with it). The student
edition is the book without its solutions: gated solutions (code) become
stubs whose body is ``...`` and whose checker call stays, so that the
notebook still runs top to bottom and the checker says "not implemented
yet"; solutions in prose are removed.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from . import REPOSITORY, __version__, folders

__all__ = ["PAGE_WIDTH", "SETUP_TAG", "install_source", "setup_cell", "student_edition", "stub"]

#: The setup cell's tag: Jupyter Book leaves the cell out of the HTML (it does nothing there).
SETUP_TAG = "remove-cell"
#: Characters of code that fit a line of the rendered page.
PAGE_WIDTH = 88

#: Copied as they are into the student edition, beside its notebooks.
_BOOK_FILES = ("_config.yml", "_toc.yml")
_PROSE_SOLUTION = re.compile(r"\n*^:::\{solution\}.*?^:::$\n?", re.MULTILINE | re.DOTALL)


def install_source() -> str:
    """What Colab's pip installs: this repository at the tag of this version."""
    return f"git+{REPOSITORY}@v{__version__}"


def setup_cell(source: str | None = None) -> str:
    """The first code cell of every chapter: installs ``fcn_lesson`` in Colab, does nothing elsewhere."""
    return (
        "# Colab only: install the book's module, pinned to this book's version.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    source = "{source or install_source()}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        '                    f"fcn_lesson @ {source}"], check=True)'
    )


def stub(solution: str) -> str:
    """The student's version of a solution cell: each checked function with ``...`` as its body,
    and the checker calls (without ``assert``, so that an unfinished answer does not stop the notebook).

    Imports stay; functions that no checker is called on (alternative solutions) go.
    """
    tree = ast.parse(solution)
    checked = []
    for node in tree.body:
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Call) \
                and ast.unparse(node.test.func).startswith("checks.check_"):
            checked.append(node.test)
    names = {arg.id for call in checked for arg in call.args if isinstance(arg, ast.Name)}
    imports = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    stubs = [f"def {node.name}({ast.unparse(node.args)}):\n    ...  # your code here"
             for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    blocks = ["\n".join(imports)] if imports else []
    return "\n\n\n".join(blocks + stubs + ["\n".join(ast.unparse(call) for call in checked)])


def _strip(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells, inside = [], False
    for cell in notebook.cells:
        text = cell.source.lstrip()
        if cell.cell_type == "markdown" and text.startswith("::::{solution-start}"):
            inside = True
            continue
        if cell.cell_type == "markdown" and text.startswith("::::{solution-end}"):
            inside = False
            continue
        if inside:
            if cell.cell_type == "code":
                stubbed = nbformat.v4.new_code_cell(stub(cell.source))
                stubbed.id = cell.id  # not a random one: the same book gives the same edition, byte for byte
                cells.append(stubbed)
            continue
        if cell.cell_type == "markdown":
            cell.source = _PROSE_SOLUTION.sub("\n", cell.source).rstrip("\n")
        cells.append(cell)
    notebook.cells = cells
    return notebook


def student_edition(book_root: str | Path, out: str | Path) -> list[Path]:
    """Write the student edition of the book at ``book_root`` into ``out``; return the notebooks written.

    ``out`` gets ``book/`` (every chapter without its solutions, the other
    cells and their outputs as they are, and the book's other files) and the Jupyter Book
    configuration, so ``jupyter-book build OUT`` builds it as a book too. ``out`` must be
    new, empty, or an earlier student edition (see :mod:`fcn_lesson.folders`); the same book
    gives the same files, byte for byte, and a file a student changed is never written over
    (:func:`folders.write_files` refuses, naming it).
    """
    book_root, out = Path(book_root), Path(out)
    source = book_root / "book"
    if not source.is_dir():
        raise FileNotFoundError(f"no book/ under {book_root}: pass the repository's root folder")
    if out.resolve() == book_root.resolve() or source.resolve() in (out.resolve(), *out.resolve().parents):
        raise ValueError(f"{out} is the book itself or inside its chapters: write the student edition "
                         "into another folder")
    files = {name: (book_root / name).read_bytes() for name in _BOOK_FILES}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(book_root)
        if not path.is_file() or {".ipynb_checkpoints", "__pycache__"} & set(relative.parts):
            continue
        if path.suffix == ".ipynb":
            files[relative.as_posix()] = nbformat.writes(_strip(nbformat.read(path, as_version=4))).encode()
        else:
            files[relative.as_posix()] = path.read_bytes()
    folders.write_files(out, "student-edition", files)
    return [out / name for name in files if name.endswith(".ipynb")]
