"""The book's notebooks as files: the Colab setup cell they all start with, and the student edition.

The setup cell is written here once, from :data:`fcn_lesson.REPOSITORY` and
:data:`fcn_lesson.BRANCH`, the branch the launch buttons open, so that the book
and the module it installs cannot drift apart (a test compares every chapter's
first code cell with it). The student
edition is the book without its solutions: gated solutions (code) become
stubs whose body is ``...`` and whose checker call stays, so that the
notebook still runs top to bottom and the checker says "not implemented
yet"; solutions in prose are removed. It is committed as ``student/`` (a
test keeps it equal to what :func:`student_edition` writes), so that a
student opens it from a link: :func:`colab_url`.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import BRANCH, REPOSITORY, folders

__all__ = ["CHAPTER_TIMES", "INSTRUCTORS_PAGE", "PAGE_WIDTH", "SETUP_TAG", "STUB_MARKER", "STUDENT_EDITION",
           "Exercise", "chapter_times", "colab_url", "exercises", "install_source", "setup_cell",
           "student_edition", "stub"]

#: The setup cell's tag: Jupyter Book leaves the cell out of the HTML (it does nothing there).
SETUP_TAG = "remove-cell"
#: Characters of code that fit a line of the rendered page.
PAGE_WIDTH = 88

#: Seconds each chapter took, per device, as ``benchmarks/chapters.py --record`` measured them.
CHAPTER_TIMES = Path(__file__).resolve().parent / "chapter_times.json"
#: Where the repository keeps its student edition, the one the book's links open.
STUDENT_EDITION = "student"
#: What the body of every stub says (:func:`stub`): the student edition's cells to fill in hold it.
STUB_MARKER = "# your code here"
#: The marker of cells whose stored output nbval compares: the only outputs the student edition keeps.
_CHECKED_OUTPUT = "# NBVAL_CHECK_OUTPUT"
#: Copied as they are into the student edition, beside its notebooks.
_BOOK_FILES = ("_config.yml", "_toc.yml")
#: The page for instructors: what each checker cannot tell and the grading notes give answers away, so
#: the student edition leaves it out, with its line in the table of contents and the preface's link.
INSTRUCTORS_PAGE = "instructors"
_INSTRUCTORS_ENTRY = re.compile(rf"^\s*- file: book/{INSTRUCTORS_PAGE}\n", re.MULTILINE)
_INSTRUCTORS_LINK = re.compile(rf"\{{doc\}}`([^`<]+?)\s*<{INSTRUCTORS_PAGE}>`")
_PROSE_SOLUTION = re.compile(r"\n*^:::\{solution\}.*?^:::$\n?", re.MULTILINE | re.DOTALL)


def install_source() -> str:
    """What Colab's pip installs: this repository's :data:`~fcn_lesson.BRANCH`, the one the notebook
    was opened from."""
    return f"git+{REPOSITORY}@{BRANCH}"


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, as the page for instructors lists it."""

    chapter: str               # the chapter's title, "2. A classifier to start from"
    label: str                 # the exercise's label, "ch2-output-size"
    checker: str | None        # the ``checks`` function a coding exercise calls; None for discussion
    grading: str | None        # the grading notes its solution ends with (None without them)


_LABEL = re.compile(r"^:label: (\S+)", re.MULTILINE)
_CHECKER = re.compile(r"checks\.(check_\w+)")
_GRADING = re.compile(r"^\*\*Grading\.\*\* (.*?)(?:\n\n|\n:::)", re.MULTILINE | re.DOTALL)


def exercises(chapters: list[Path]) -> list[Exercise]:
    """The exercises of ``chapters`` (notebooks), in order: which checker each coding one calls, and
    the grading notes its solution ends with, if any (every discussion one's; absent from the student
    edition): in its ``{solution}`` block, or else in a markdown cell between its solution-start and
    solution-end. A checker cannot grade what a coding exercise asks in words, so its notes count too."""
    found = []
    for path in chapters:
        cells = nbformat.read(path, as_version=4).cells
        chapter = cells[0].source.splitlines()[0].lstrip("# ")
        text = "\n".join(cell.source for cell in cells)
        for cell in cells:
            for label in _LABEL.findall(cell.source):
                checker = _CHECKER.search(cell.source)
                solution = re.search(rf"^:::\{{solution\}} {re.escape(label)}$.*?^:::$", text,
                                     re.MULTILINE | re.DOTALL)
                if solution is None:  # a gated solution: its notes in a markdown cell inside the gate
                    solution = re.search(rf"^::::\{{solution-start\}} {re.escape(label)}$.*?"
                                         r"^::::\{solution-end\}", text, re.MULTILINE | re.DOTALL)
                grading = _GRADING.search(solution.group(0)) if solution else None
                found.append(Exercise(chapter, label, checker and checker.group(1),
                                      grading and " ".join(grading.group(1).split())))
    return found


def chapter_times() -> dict:
    """What ``benchmarks/chapters.py --record`` measured: per device (``cpu``, ``cuda``), the machine,
    the date and each chapter's seconds from an empty cache; ``{}`` before any measurement."""
    return json.loads(CHAPTER_TIMES.read_text()) if CHAPTER_TIMES.is_file() else {}


def colab_url(path: str) -> str:
    """The link that opens the repository's notebook at ``path`` (relative to its root) in Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY.removeprefix('https://github.com/')}/blob/{BRANCH}/{path}"


def setup_cell(source: str | None = None) -> str:
    """The first code cell of every chapter: installs ``fcn_lesson`` in Colab, does nothing elsewhere."""
    return (
        "# Colab only: install the book's module from the branch this notebook opens from.\n"
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
    stubs = [f"def {node.name}({ast.unparse(node.args)}):\n    ...  {STUB_MARKER}"
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
            if cell.cell_type == "code" and stub(cell.source):  # a worked answer with nothing to fill in goes
                stubbed = nbformat.v4.new_code_cell(stub(cell.source))
                stubbed.id = cell.id  # not a random one: the same book gives the same edition, byte for byte
                cells.append(stubbed)
            continue
        if cell.cell_type == "markdown":
            cell.source = _PROSE_SOLUTION.sub("\n", cell.source).rstrip("\n")
        if cell.cell_type == "code":
            _clear(cell)
        cells.append(cell)
    notebook.cells = cells
    return notebook


def _launching_students(config: str) -> str:
    """The book's configuration, with the launch buttons opening the repository's student edition."""
    repository = "repository:\n"
    if repository not in config:
        raise ValueError("_config.yml has no `repository:` section: the launch buttons need one")
    return config.replace(repository, f"{repository}  path_to_book: {STUDENT_EDITION}  # launch the student edition\n", 1)


def _clear(cell: nbformat.NotebookNode) -> None:
    """A student runs each cell and sees its output appear; only the outputs nbval compares stay,
    so that the edition is tested like the book. Without outputs and timings, the edition changes
    only when the book's text or code does, not each time a chapter is executed again."""
    cell.metadata.pop("execution", None)
    if _CHECKED_OUTPUT not in cell.source:  # nbval wants a checked cell's count: it says the outputs ran
        cell.outputs, cell.execution_count = [], None


def student_edition(book_root: str | Path, out: str | Path) -> list[Path]:
    """Write the student edition of the book at ``book_root`` into ``out``; return the notebooks written.

    ``out`` gets ``book/`` (every chapter without its solutions and without the outputs a
    student makes by running it, and the book's other files but the page for instructors) and the
    Jupyter Book configuration, so ``jupyter-book build OUT`` builds it as a book too. ``out`` must be
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
    files["_config.yml"] = _launching_students(files["_config.yml"].decode()).encode()
    files["_toc.yml"] = _INSTRUCTORS_ENTRY.sub("", files["_toc.yml"].decode()).encode()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(book_root)
        if not path.is_file() or {".ipynb_checkpoints", "__pycache__"} & set(relative.parts) \
                or path.name == f"{INSTRUCTORS_PAGE}.ipynb":
            continue
        if path.suffix == ".ipynb":
            files[relative.as_posix()] = nbformat.writes(_strip(nbformat.read(path, as_version=4))).encode()
        elif path.suffix == ".md":  # the preface's links to the edition's notebooks: beside it, in the edition
            text = path.read_text().replace(f"<../{STUDENT_EDITION}/book/", "<")
            files[relative.as_posix()] = _INSTRUCTORS_LINK.sub(r"\1 (left out of the student edition)",
                                                               text).encode()
        else:
            files[relative.as_posix()] = path.read_bytes()
    folders.write_files(out, "student-edition", files)
    return [out / name for name in files if name.endswith(".ipynb")]
