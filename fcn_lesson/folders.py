"""Where the commands may write: only into folders they made, or that are empty.

Every command that writes (``make-data``, ``train``, ``predict``,
``student-edition``) first claims its output folder with :func:`claim`. A
claimed folder holds a small stamp file naming the command that made it; a
folder that is not empty and has no such stamp belongs to someone else and is
refused, and so are the book's repository, its ``book/`` and every folder
that contains the repository. Nothing that a command did not make is ever
deleted or overwritten: :func:`write_files` also refuses to write over a file
in its own folder that was changed since it wrote it. :func:`lock` keeps
two writers out of one folder: two trainings, or two chapters making the same
scenes at once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

__all__ = ["STAMP", "claim", "lock", "made_by", "write_files"]

#: The file that marks a folder as made by one of this module's commands.
STAMP = ".fcn_lesson.json"
_REPOSITORY = Path(__file__).resolve().parent.parent


def made_by(folder: str | Path) -> str | None:
    """The command that made ``folder`` (from its stamp), or None if no command of this module did."""
    stamp = Path(folder) / STAMP
    try:
        return json.loads(stamp.read_text())["made_by"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _filled(folder: Path) -> bool:
    """Whether ``folder`` holds anything but a claim under way: another process's stamp, created and not
    yet written (claiming the folder too writes the same stamp into the same file)."""
    if not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    return bool(entries) and not ([entry.name for entry in entries] == [STAMP] and entries[0].stat().st_size == 0)


def claim(folder: str | Path, command: str) -> Path:
    """Make sure ``command`` may write into ``folder``, create it if needed, and stamp it.

    Allowed: a missing folder, an empty one, or one that ``command`` made
    before. Anything else raises a ``ValueError`` that names the folder and
    what to do instead.
    """
    folder = Path(folder)
    where = folder.resolve()
    if where == _REPOSITORY or where in _REPOSITORY.parents or where == _REPOSITORY / "book":
        what = "is the book's repository" if where == _REPOSITORY else (
            "is the book's chapters folder" if where == _REPOSITORY / "book" else "holds the book's repository")
        raise ValueError(f"{folder} {what}; {command} writes only into a new or empty folder: pass another")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder: pass a folder for {command} to write into")
    owner = made_by(folder)
    if owner is None and _filled(folder):
        owner = made_by(folder)  # a claim writes its stamp before anything else: it may have just done so
        if owner is None:
            raise ValueError(f"{folder} is not empty and was not made by {command}: pass a new or empty "
                             "folder (nothing in it was changed)")
    if owner is not None and owner != command:
        raise ValueError(f"{folder} was made by {owner}, not {command}: pass another folder")
    if owner == command:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STAMP).write_text(json.dumps({"made_by": command}) + "\n")
    except OSError as err:
        raise ValueError(f"cannot write into {folder} ({err.strerror}): pass a folder you can write to") from None
    return folder


def write_files(folder: str | Path, command: str, files: dict[str, bytes]) -> Path:
    """Write ``files`` (paths relative to ``folder``: their bytes) into ``folder``, claimed for ``command``.

    The stamp records a hash of every file written. Before anything is
    written, a file that is already there and holds neither what ``command``
    last wrote nor what it would write now (a student's edits, a file put
    there by hand) is refused with a ``ValueError`` that names it. Each file
    is written under a temporary name and renamed.
    """
    folder = claim(folder, command)
    record = json.loads((folder / STAMP).read_text())
    written = record.get("files", {})
    changed = [name for name, content in files.items() if (folder / name).is_file()
               and _digest((folder / name).read_bytes()) not in (written.get(name), _digest(content))]
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise ValueError(f"{folder / changed[0]}{more} was changed since {command} wrote it: move your "
                         "version elsewhere, or pass another folder (nothing was written)")
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(content)
        temporary.replace(target)
        written[name] = _digest(content)
    record["files"] = dict(sorted(written.items()))
    (folder / STAMP).write_text(json.dumps(record, indent=1) + "\n")
    return folder


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@contextmanager
def lock(folder: str | Path, activity: str, *, wait: bool = False):
    """Hold ``folder``'s lock while ``activity`` writes into it (``folder`` claimed first).

    Another process that asks for it fails at once, with a ``ValueError``
    naming the activity; with ``wait`` it waits its turn instead (two chapters
    that fill the module's cache at the same time: the second then finds the
    first's work done). The lock is the operating system's (``flock`` on the
    folder's stamp), so it ends with the process that holds it, however that
    process ends: nothing is left behind to clean up, and no stale lock is
    ever taken over by mistake.
    """
    stamp = Path(folder) / STAMP
    with open(stamp, "a") as handle:  # claim() made it; "a" changes nothing in it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise ValueError(f"{folder} is in use by another {activity}: wait for it to finish, "
                                 "or use another folder") from None
            print(f"waiting for another {activity} in {folder} to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
