"""The commands write only into folders they made or that are empty, and never train twice into one."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fcn_lesson import folders

REPOSITORY = Path(__file__).resolve().parent.parent


def test_a_new_or_empty_folder_is_claimed_and_stamped(tmp_path):
    assert folders.claim(tmp_path / "new" / "deeper", "train").is_dir()
    assert folders.made_by(tmp_path / "new" / "deeper") == "train"
    (tmp_path / "empty").mkdir()
    folders.claim(tmp_path / "empty", "predict")
    folders.claim(tmp_path / "empty", "predict")  # its own folder, again
    assert folders.made_by(tmp_path / "empty") == "predict"


def test_a_folder_another_process_is_claiming_this_moment_is_claimed_too(tmp_path):
    (tmp_path / folders.STAMP).touch()  # its stamp created, not yet written
    folders.claim(tmp_path, "make-data")
    assert folders.made_by(tmp_path) == "make-data"
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / folders.STAMP).touch()
    (beside / "mine.txt").write_text("precious")  # an empty stamp beside a user's file: not a claim
    with pytest.raises(ValueError, match="is not empty and was not made by train"):
        folders.claim(beside, "train")
    assert (beside / "mine.txt").read_text() == "precious"


def test_a_folder_someone_else_filled_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(ValueError, match="is not empty and was not made by train.*nothing in it was changed"):
        folders.claim(tmp_path, "train")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    folders.claim(tmp_path / "made", "predict")
    with pytest.raises(ValueError, match="was made by predict, not student-edition"):
        folders.claim(tmp_path / "made", "student-edition")


@pytest.mark.parametrize("where", [REPOSITORY, REPOSITORY / "book", REPOSITORY.parent], ids=["repo", "book", "above"])
def test_the_repository_its_book_and_its_ancestors_are_refused(where):
    with pytest.raises(ValueError, match="book's"):
        folders.claim(where, "student-edition")


def test_a_file_or_an_unwritable_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        folders.claim(tmp_path / "file", "train")
    with pytest.raises(ValueError, match="cannot write into .*file/sub .*pass a folder you can write to"):
        folders.claim(tmp_path / "file" / "sub", "train")  # a folder that cannot be made
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        with pytest.raises(ValueError, match="cannot write into"):
            folders.claim(locked / "sub", "train")
    finally:
        locked.chmod(0o700)


def test_a_second_training_into_the_same_folder_fails_at_once(tmp_path):
    out = folders.claim(tmp_path / "out", "train")
    with folders.lock(out, "training"):
        code = (f"from fcn_lesson import folders\n"
                f"with folders.lock({str(out)!r}, 'training'):\n    pass\n")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "is in use by another training" in other.stderr
    assert sorted(p.name for p in out.iterdir()) == [folders.STAMP]  # nothing left behind
    assert folders.made_by(out) == "train"


def test_the_lock_dies_with_a_killed_process(tmp_path):
    out = folders.claim(tmp_path / "out", "train")
    code = (f"import time\nfrom fcn_lesson import folders\n"
            f"with folders.lock({str(out)!r}, 'training'):\n    print('locked', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ValueError, match="in use by another training"):
            with folders.lock(out, "training"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folders.lock(out, "training"):  # kill -9 left no lock behind
        pass


def test_a_waiting_writer_takes_its_turn_after_the_holder(tmp_path):
    out = folders.claim(tmp_path / "out", "make-data")
    code = (f"from fcn_lesson import folders\n"
            f"with folders.lock({str(out)!r}, 'scene generation', wait=True):\n    print('mine', flush=True)\n")
    with folders.lock(out, "scene generation"):
        waiting = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert waiting.stdout.readline().strip() == f"waiting for another scene generation in {out} to finish"
        assert waiting.poll() is None  # still waiting while this process holds the lock
    assert waiting.stdout.readline().strip() == "mine"
    assert waiting.wait(timeout=60) == 0
