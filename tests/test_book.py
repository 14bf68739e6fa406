"""The book as files: every chapter starts with the one setup cell, the configuration points at the one
repository, every notebook is in the table of contents, and the student edition is the book minus solutions."""
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import fcn_lesson
from fcn_lesson import checks, notebooks

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
STUDENT_NOTEBOOKS = sorted((ROOT / notebooks.STUDENT_EDITION / "book").glob("*.ipynb"))


def code_cells(path):
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def test_there_are_nine_chapters_and_all_are_in_the_table_of_contents():
    assert [p.name[:2] for p in CHAPTERS] == [f"{i:02d}" for i in range(1, 10)]
    toc = (ROOT / "_toc.yml").read_text()
    for path in sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.md")):
        assert f"book/{path.stem}" in toc, f"{path.name} is not in _toc.yml"


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_setup_cell_of_this_version(path):
    assert code_cells(path)[0].source == notebooks.setup_cell()
    assert f"@{fcn_lesson.BRANCH}" in notebooks.setup_cell()


def test_the_setup_cell_is_hidden_in_the_html_but_first_in_the_notebook():
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        first = code_cells(path)[0]
        assert notebooks.SETUP_TAG in first.metadata.get("tags", []), path.name


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_code_line_is_wider_than_the_rendered_page(path):
    wide = [(index, line) for index, cell in enumerate(code_cells(path))
            for line in cell.source.splitlines() if len(line) > notebooks.PAGE_WIDTH]
    assert not wide, f"{path.name}: code lines over {notebooks.PAGE_WIDTH} characters: {wide[:3]}"


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_code_block_or_list_item_was_run_into_a_paragraph(path):
    """A fence opened and closed on one line renders as inline code (a command that fails when copied),
    and "... fork. 4. A checker" is a list item lost inside the paragraph above it."""
    merged = re.compile(r"```\w*\s+\S.*```|\S[.:;)] +[2-9]\. [A-Z`*(]")
    found = [(index, line) for index, cell in enumerate(nbformat.read(path, as_version=4).cells)
             if cell.cell_type == "markdown" for line in cell.source.splitlines() if merged.search(line)]
    assert not found, f"{path.name}: a code block or list item run into a paragraph: {found[:3]}"


def test_the_launch_buttons_point_at_the_repository_the_setup_cell_installs_from():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == fcn_lesson.REPOSITORY
    assert config["repository"]["branch"] == fcn_lesson.BRANCH
    assert notebooks.install_source().startswith(f"git+{fcn_lesson.REPOSITORY}@")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def test_the_setup_cell_installs_only_in_colab():
    namespace = {}
    exec(notebooks.setup_cell(), namespace)  # outside Colab: nothing happens, nothing is installed
    assert "google.colab" not in sys.modules


def test_stub_keeps_signatures_imports_and_checker_calls():
    solution = (
        "import math\n\n\ndef my_f(x, y=2):\n    return math.sqrt(x) + y\n\n\n"
        "def other_way(x, y=2):\n    return 0\n\n\nassert checks.check_f(my_f)\n")
    stub = notebooks.stub(solution)
    assert stub == "import math\n\n\ndef my_f(x, y=2):\n    ...  # your code here\n\n\nchecks.check_f(my_f)"
    assert "sqrt" not in stub and "other_way" not in stub
    assert notebooks.stub("x = 1\nprint(x)\n") == ""  # a worked answer: the edition leaves no cell for it


def _solution_cells(notebook):
    """The cells between each solution-start and its solution-end."""
    inside, cells = False, []
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("::::{solution-"):
            inside = cell.source.lstrip().startswith("::::{solution-start}")
        elif inside:
            cells.append(cell)
    return cells


def test_student_edition_has_no_solutions(tmp_path):
    written = notebooks.student_edition(ROOT, tmp_path / "student")
    assert [p.name for p in written] == [p.name for p in sorted((ROOT / "book").glob("*.ipynb"))
                                         if p.stem != notebooks.INSTRUCTORS_PAGE]
    for path in written:
        text = path.read_text()
        assert "solution-start" not in text and "{solution}" not in text, path.name
        original = nbformat.read(ROOT / "book" / path.name, as_version=4)
        exercises = sum(len(re.findall(r"^:label: ", c.source, re.MULTILINE)) for c in original.cells
                        if c.cell_type == "markdown")
        student = nbformat.read(path, as_version=4)
        assert sum(len(re.findall(r"^:label: ", c.source, re.MULTILINE)) for c in student.cells
                   if c.cell_type == "markdown") == exercises, path.name  # every question is still there
        stubs = [c.source for c in student.cells if c.cell_type == "code" and notebooks.STUB_MARKER in c.source]
        asked = sum(c.cell_type == "code" and "checks.check_" in c.source for c in _solution_cells(original))
        assert len(stubs) == asked, path.name
    with pytest.raises(ValueError, match="inside its chapters"):
        notebooks.student_edition(ROOT, ROOT / "book" / "student")


def test_the_student_edition_leaves_out_the_page_for_instructors_and_every_way_to_it(tmp_path):
    """That page lists what each checker cannot tell and the grading notes: answers, for a student."""
    page = notebooks.INSTRUCTORS_PAGE
    assert f"file: book/{page}" in (ROOT / "_toc.yml").read_text()
    assert f"<{page}>`" in (ROOT / "book" / "intro.md").read_text()
    out = tmp_path / "student"
    notebooks.student_edition(ROOT, out)
    assert not (out / "book" / f"{page}.ipynb").exists()
    assert page not in (out / "_toc.yml").read_text()
    preface = (out / "book" / "intro.md").read_text()
    assert f"<{page}>" not in preface and "for instructors (left out of the student edition)" in preface
    assert yaml.safe_load((out / "_toc.yml").read_text())["parts"][-1]["chapters"]  # still a valid list


def test_the_student_edition_runs_the_books_code_then_only_its_stubs():
    """nbval runs the book's notebooks; a student notebook runs the same code cells, then the stubs
    this test runs: together that is the student edition top to bottom, without running it twice."""
    for student in STUDENT_NOTEBOOKS:
        book = [cell.source for cell in code_cells(ROOT / "book" / student.name)]
        sources = [cell.source for cell in code_cells(student)]
        shared = next((i for i, source in enumerate(sources) if notebooks.STUB_MARKER in source), len(sources))
        assert sources[:shared] == book[:shared], f"{student.name}: a code cell differs from the book's"
        assert all(notebooks.STUB_MARKER in source for source in sources[shared:]), student.name


def test_every_stub_of_the_student_edition_runs_and_its_checker_says_not_implemented_yet(capsys):
    stubs = [(student.name, cell.source) for student in STUDENT_NOTEBOOKS
             for cell in code_cells(student) if notebooks.STUB_MARKER in cell.source]
    assert stubs
    for name, source in stubs:
        exec(compile(source, name, "exec"), {"checks": checks})  # all a stub may use besides its imports
        told = capsys.readouterr().out.splitlines()
        assert told and all(line.startswith("✗") and "not implemented yet" in line for line in told), (name, told)


def test_the_committed_student_edition_is_what_student_edition_writes(tmp_path):
    written = tmp_path / "student"
    notebooks.student_edition(ROOT, written)
    committed = ROOT / notebooks.STUDENT_EDITION

    def files(folder):
        return {path.relative_to(folder).as_posix(): path.read_bytes()
                for path in sorted(folder.rglob("*")) if path.is_file()}

    expected, found = files(written), files(committed)
    redo = "run `python -m fcn_lesson student-edition --out student` and commit student/"
    assert sorted(found) == sorted(expected), redo
    for name, content in expected.items():
        assert found[name] == content, f"student/{name} differs from the book: {redo}"


def test_the_student_edition_keeps_only_the_outputs_nbval_compares(tmp_path):
    for path in notebooks.student_edition(ROOT, tmp_path / "student"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert "execution" not in cell.metadata, path.name
                if "# NBVAL_CHECK_OUTPUT" not in cell.source:
                    assert not cell.outputs and cell.execution_count is None, path.name


def test_the_student_editions_launch_buttons_and_downloads_open_the_student_edition(tmp_path):
    out = tmp_path / "student"
    notebooks.student_edition(ROOT, out)
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["repository"]["path_to_book"] == notebooks.STUDENT_EDITION
    assert config["repository"]["url"] == fcn_lesson.REPOSITORY
    preface = (out / "book" / "intro.md").read_text()
    for chapter in CHAPTERS:
        assert f"{{download}}`notebook <{chapter.name}>`" in preface  # beside the preface, in the edition
        assert (out / "book" / chapter.name).is_file()


def test_the_readme_and_the_preface_link_every_chapter_of_the_student_edition():
    readme, preface = (ROOT / "README.md").read_text(), (ROOT / "book" / "intro.md").read_text()
    for chapter in CHAPTERS:
        student = f"{notebooks.STUDENT_EDITION}/book/{chapter.name}"
        assert (ROOT / student).is_file()
        assert f"]({notebooks.colab_url(student)})" in readme, chapter.name
        assert f"]({notebooks.colab_url(student)})" in preface, chapter.name
        assert f"{{download}}`notebook <../{student}>`" in preface, chapter.name


def test_the_readme_and_the_preface_link_the_student_edition_of_every_appendix_with_an_exercise():
    readme, preface = (ROOT / "README.md").read_text(), (ROOT / "book" / "intro.md").read_text()
    with_exercises = [path for path in sorted((ROOT / "book").glob("appendix_*.ipynb"))
                      if notebooks.exercises([path])]
    assert with_exercises  # the appendix on seeds holds chapter 7's seeds exercise
    for path in with_exercises:
        student = f"{notebooks.STUDENT_EDITION}/book/{path.name}"
        assert f"({notebooks.colab_url(student)})" in readme, path.name
        assert f"]({notebooks.colab_url(student)})" in preface, path.name
        assert f"{{download}}`notebook <../{student}>`" in preface, path.name


def test_colab_url_opens_the_repositorys_main_branch():
    url = notebooks.colab_url("student/book/01_task_data_scores.ipynb")
    assert url == ("https://colab.research.google.com/github/fcn-step-by-step/fcn-step-by-step/blob/main/"
                   "student/book/01_task_data_scores.ipynb")


def test_a_virtual_environment_inside_the_repository_is_not_part_of_the_book(tmp_path):
    """A newcomer's `python -m venv .venv` holds Markdown files; with -W, reading one would fail the build."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nThe book.\n")
    (tmp_path / "book" / "references.bib").write_text((ROOT / "book" / "references.bib").read_text())
    for env in (".venv/lib/python3.11/site-packages/pkg", "venv/share/doc", "env/lib/site-packages/other"):
        (tmp_path / env).mkdir(parents=True)
        (tmp_path / env / "README.md").write_text("# Not ours\n\n[broken](nowhere.md) {ref}`no-such-label`\n")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(tmp_path), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "site-packages" not in result.stdout + result.stderr
    assert not list((tmp_path / "_build" / "html").rglob("README.html"))


def test_exercises_lists_each_with_its_checker_or_its_grading_notes(tmp_path):
    found = notebooks.exercises(CHAPTERS)
    assert len({exercise.label for exercise in found}) == len(found)
    coding = [e for e in found if e.checker]
    assert coding and all(hasattr(checks, e.checker) for e in coding)
    assert any(e.grading for e in coding)  # what a checker cannot grade: chapter 5's predict, in words
    discussion = [e for e in found if not e.checker]
    assert discussion and all(e.grading and "**" not in e.grading for e in discussion)
    first = found[0]
    assert first.chapter.startswith("1. ") and first.label.startswith("ch1-")
    students = notebooks.student_edition(ROOT, tmp_path / "student")
    chapters = [path for path in students if path.name[:2].isdigit()]
    assert [e.grading for e in notebooks.exercises(chapters)] == [None] * len(found)  # no notes for students


def test_chapter_times_were_recorded_for_every_chapter_on_the_cpu():
    record = notebooks.chapter_times()["cpu"]
    assert sorted(record["seconds"]) == [path.stem for path in CHAPTERS]
    assert all(seconds > 0 for seconds in record["seconds"].values())
    assert record["machine"] and record["date"]


def test_exercises_reads_grading_notes_from_a_gated_solution(tmp_path):
    cells = [nbformat.v4.new_markdown_cell("# 7. A chapter"),
             nbformat.v4.new_markdown_cell(":::{exercise}\n:label: ch7-talk\n\nMeasure, then say why.\n:::"),
             nbformat.v4.new_markdown_cell("::::{solution-start} ch7-talk\n:class: dropdown\n::::"),
             nbformat.v4.new_code_cell("print(1)"),
             nbformat.v4.new_markdown_cell("It prints 1.\n\n**Grading.** The number,\nthen the reason."),
             nbformat.v4.new_markdown_cell("::::{solution-end}\n::::")]
    path = tmp_path / "07_chapter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    [found] = notebooks.exercises([path])
    assert found.label == "ch7-talk" and found.checker is None
    assert found.grading == "The number, then the reason."
