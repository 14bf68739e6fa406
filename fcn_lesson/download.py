"""PASCAL VOC 2012, SBD and the paper's validation list, from sources that answer, checked by checksum.

The Oxford host that torchvision downloads VOC from stopped answering in November 2025
(pytorch/vision issues 9269 and 9271: time-outs, a firewall block); a comment on pull request
9216 of March 2026 says it is back, with redirects to new addresses. Each file here
has an ordered list of sources and the official checksum: a source that is
down is skipped, a copy whose checksum differs is discarded (so a mirror can
be tried without trusting it), and an interrupted transfer resumes where it
stopped. A copy the user already has, an archive or an unpacked folder, is
used instead of any download. When every source fails, the error lists what
was tried and the manual route.

Files go only into folders this module made or that are empty (see
:mod:`fcn_lesson.folders`); the user's own folders are read, never written.
"""
from __future__ import annotations

import hashlib
import http.client
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import folders
from .progress import live, tqdm

__all__ = ["SBD", "SBD_TRAIN_NOVAL", "SEG11VALID", "VOC2012", "Download", "fetch", "prepare_sbd",
           "prepare_voc", "seg11valid"]

#: How long to wait for a source to answer, in seconds.
TIMEOUT = 30
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Download:
    """One file: what it is, its name, its official MD5, and where to get it, tried in order."""

    name: str
    filename: str
    md5: str
    urls: tuple[str, ...]


#: PASCAL VOC 2012 train + val (about 2 GB). The Oxford host first; then mirrors that serve the same
#: file (pytorch/vision pull request 9335 found the first working in January 2026; the checksum
#: decides, whoever serves it).
VOC2012 = Download("PASCAL VOC 2012 (train + val)", "VOCtrainval_11-May-2012.tar", "6cd6e144f989b92b3379bac3b3de84fd",
                   ("http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                    "http://d2l-data.s3-accelerate.amazonaws.com/VOCtrainval_11-May-2012.tar",
                    "https://dataset.bj.bcebos.com/voc/VOCtrainval_11-May-2012.tar"))
#: The Semantic Boundaries Dataset of Hariharan et al. (about 1.4 GB), from its authors' host.
SBD = Download("SBD (the Semantic Boundaries Dataset)", "benchmark.tgz", "82b4d87ceb2ed10f6038a1cba92111cb",
               ("https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/"
                "benchmark.tgz",))
#: SBD's training images that are not in VOC 2012 val (torchvision's ``train_noval``).
SBD_TRAIN_NOVAL = Download("SBD's train_noval list", "train_noval.txt", "79bff800c5f0b1ec6b21080a3c066722",
                           ("https://www.cs.cornell.edu/~bharathh/train_noval.txt",
                            "http://home.bharathh.info/pubs/codes/SBD/train_noval.txt"))
#: The paper's validation images: the 736 of VOC 2011 segmentation val that SBD does not train on, as
#: listed in the authors' reference implementation (``data/pascal/seg11valid.txt``).
SEG11VALID = Download("the paper's seg11valid list", "seg11valid.txt", "7984b6ce736bd3666d8b7ee70b5401da",
                      ("https://raw.githubusercontent.com/shelhamer/fcn.berkeleyvision.org/master/data/pascal/"
                       "seg11valid.txt",))


def fetch(item: Download, folder: str | Path, *, urls: tuple[str, ...] | None = None,
          progress: bool = True) -> Path:
    """``folder/<item.filename>``, its MD5 checked: there already, or fetched from the first source
    (``urls``, default ``item.urls``) that gives a correct copy.

    The transfer is written to ``<filename>.part`` and renamed when whole and
    correct; a ``.part`` left by an interrupted transfer is resumed with an
    HTTP range request, from whichever source answers. A ``ConnectionError``
    lists every source and what it did, and how to bring the file by hand.
    """
    target = Path(folder) / item.filename
    if target.is_file() and _md5(target) == item.md5:  # fetched before, or put there by hand
        return target
    folder = folders.claim(folder, "download")
    part = folder / f"{item.filename}.part"
    tried = []
    for url in urls or item.urls:
        try:
            _transfer(url, part, progress, item.filename)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            tried.append(f"{url}: {_reason(err)}" + (f" (kept {part.stat().st_size:,} bytes to resume)"
                                                      if part.is_file() else ""))
            continue
        got = _md5(part)
        if got != item.md5:
            part.unlink()
            tried.append(f"{url}: the file's MD5 is {got}, not {item.md5}: refused")
            continue
        part.replace(target)
        return target
    raise ConnectionError(
        f"could not download {item.name}. Tried: " + "; ".join(tried) + f". By hand: get {item.filename} "
        f"(MD5 {item.md5}) wherever you can (a mirror, a course drive, a copy on another machine), and "
        f"put it in {folder} (or pass its path as local=...)")


def prepare_voc(root: str | Path, *, local: str | Path | None = None, progress: bool = True) -> Path:
    """A folder holding ``VOCdevkit/VOC2012``: ``root`` if it holds it, else ``local`` (the unpacked
    folder or the archive), else the archive downloaded into ``root`` and unpacked there."""
    return _prepare(VOC2012, root, local, (Path("VOCdevkit", "VOC2012", "ImageSets", "Segmentation"),), progress)


def prepare_sbd(root: str | Path, *, local: str | Path | None = None, progress: bool = True) -> Path:
    """SBD's dataset folder (``img/``, ``cls/``, the split files) under ``root`` or ``local``, or
    downloaded and unpacked into ``root``; with ``train_noval.txt`` beside them where this module
    unpacked it (a folder of the user's is read as it is)."""
    inside = Path("benchmark_RELEASE", "dataset")
    found = _prepare(SBD, root, local, (inside / "cls", Path("cls")), progress)
    dataset = found / inside if (found / inside / "cls").is_dir() else found
    if not (dataset / SBD_TRAIN_NOVAL.filename).is_file() and folders.made_by(found) == "download":
        noval = fetch(SBD_TRAIN_NOVAL, found, progress=progress)
        shutil.copyfile(noval, dataset / SBD_TRAIN_NOVAL.filename)
    return dataset


def seg11valid(folder: str | Path, *, local: str | Path | None = None, progress: bool = True) -> list[str]:
    """The 736 image ids of the paper's validation set: from ``local`` (a copy of the list) or fetched
    into ``folder``; checked against the authors' file by MD5 either way."""
    if local is not None:
        local = Path(local)
        if not local.is_file() or _md5(local) != SEG11VALID.md5:
            raise ValueError(f"{local} is not the authors' seg11valid.txt (MD5 {SEG11VALID.md5}): pass that "
                             "file, or leave local out to download it")
        path = local
    else:
        path = fetch(SEG11VALID, folder, progress=progress)
    return path.read_text().split()


def _prepare(item: Download, root: str | Path, local: str | Path | None, markers: tuple[Path, ...],
             progress: bool) -> Path:
    """The folder that holds one of ``markers``: ``root``, the folder ``local``, or the archive (``local``,
    or ``item`` fetched) unpacked into ``root``."""
    def holds(folder: Path) -> bool:
        return any((folder / marker).exists() for marker in markers)

    root = Path(root)
    if holds(root):
        return root
    if local is not None:
        local = Path(local)
        if local.is_dir():
            if holds(local):
                return local
            raise FileNotFoundError(f"{local} holds no {markers[0]}: pass the folder {item.filename} was "
                                    "unpacked into, or the archive itself")
        if not local.is_file():
            raise FileNotFoundError(f"{local} does not exist: pass {item.filename} or the folder it was "
                                    "unpacked into")
        if _md5(local) != item.md5:
            raise ValueError(f"{local} is not {item.name}: its MD5 is not {item.md5} (a damaged or other "
                             "file); pass the original archive")
        archive = local
    else:
        archive = fetch(item, root, progress=progress)
    _unpack(archive, folders.claim(root, "download"))
    if not holds(root):
        raise ValueError(f"{archive} unpacked, but {root / markers[0]} is not there: it is not {item.name}")
    return root


def _unpack(archive: Path, folder: Path) -> None:
    """Unpack a tar archive into ``folder``, refusing members that would land outside it."""
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")


def _transfer(url: str, part: Path, progress: bool, label: str) -> None:
    """Download ``url`` into ``part``, resuming after the bytes already there when the server allows."""
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        resumed = have and response.status == 206
        total = int(response.headers.get("Content-Length", 0)) + (have if resumed else 0)
        with open(part, "ab" if resumed else "wb") as out, \
                tqdm(total=total or None, initial=have if resumed else 0, unit="B", unit_scale=True,
                     desc=label, disable=not (progress and live()), leave=False) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    if total and part.stat().st_size < total:
        raise ValueError(f"the transfer stopped after {part.stat().st_size:,} of {total:,} bytes")


def _reason(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"no answer ({err.reason})"
    return f"{type(err).__name__}: {err}"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
