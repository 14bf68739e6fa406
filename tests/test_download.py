"""Downloads against a local HTTP server on 127.0.0.1: a source that is down, a corrupt copy, a transfer
cut off half way, a local archive; and the paper's seg11valid split on a small fake VOC tree."""
import hashlib
import http.server
import tarfile
import threading
from pathlib import Path

import pytest

from fcn_lesson import data, download, fullscale
from fcn_lesson.checkpoints import save_checkpoint
from fcn_lesson.cli import main
from fcn_lesson.models import FCN8s

from fakes import make_fake_sbd, make_fake_voc


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path: bytes). ``/corrupt/...`` serves other bytes; ``/cut/...`` sends the first
    half and hangs up once, then honours range requests; ``/down/...`` answers 503. Records each request."""

    def __init__(self, files):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files, self.requests, self.cut = files, [], set()

    def url(self, path):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        kind, name = self.path.strip("/").split("/", 1)
        self.server.requests.append((self.path, self.headers.get("Range")))
        if kind == "down" or name not in self.server.files:
            self.send_error(503 if kind == "down" else 404)
            return
        body = self.server.files[name]
        if kind == "corrupt":
            body = bytes(reversed(body))
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if kind == "cut" and self.path not in self.server.cut:
            self.server.cut.add(self.path)
            self.wfile.write(body[start:len(body) // 2])  # and hang up: the client gets half
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    served = Server({})
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


@pytest.fixture(scope="module")
def voc_archive(tmp_path_factory):
    """A small VOC tree packed as VOCtrainval_11-May-2012.tar is: (archive bytes, its MD5)."""
    tmp = tmp_path_factory.mktemp("archive")
    make_fake_voc(tmp / "tree", train=("2007_000032", "2008_000001"), val=("2007_000033", "2007_000042"))
    with tarfile.open(tmp / "voc.tar", "w") as tar:
        tar.add(tmp / "tree" / "VOCdevkit", arcname="VOCdevkit")
    content = (tmp / "voc.tar").read_bytes()
    return content, hashlib.md5(content).hexdigest()


def item_for(server, content, md5, *paths):
    server.files["voc.tar"] = content
    return download.Download("a test VOC", "voc.tar", md5, tuple(server.url(p) for p in paths))


def test_a_source_that_is_down_is_skipped(server, voc_archive, tmp_path):
    item = item_for(server, *voc_archive, "/down/voc.tar", "/good/nothing.tar", "/good/voc.tar")
    path = download.fetch(item, tmp_path / "get", progress=False)
    assert path.read_bytes() == voc_archive[0]
    assert [request for request, _ in server.requests] == ["/down/voc.tar", "/good/nothing.tar", "/good/voc.tar"]
    download.fetch(item, tmp_path / "get", progress=False)  # there already: nothing asked
    assert len(server.requests) == 3


def test_a_corrupt_copy_is_refused_and_every_failure_is_named(server, voc_archive, tmp_path):
    item = item_for(server, *voc_archive, "/corrupt/voc.tar", "/down/voc.tar")
    with pytest.raises(ConnectionError) as failed:
        download.fetch(item, tmp_path / "get", progress=False)
    message = str(failed.value)
    assert "corrupt/voc.tar: the file's MD5 is" in message and "refused" in message
    assert "down/voc.tar: HTTP 503" in message
    assert f"By hand: get voc.tar (MD5 {voc_archive[1]})" in message and str(tmp_path / "get") in message
    assert not any((tmp_path / "get").glob("voc.tar*"))  # the corrupt copy is gone
    item = item_for(server, *voc_archive, "/corrupt/voc.tar", "/good/voc.tar")
    assert download.fetch(item, tmp_path / "get", progress=False).read_bytes() == voc_archive[0]


def test_an_interrupted_transfer_resumes_where_it_stopped(server, voc_archive, tmp_path):
    item = item_for(server, *voc_archive, "/cut/voc.tar")
    half = len(voc_archive[0]) // 2
    with pytest.raises(ConnectionError, match=f"kept {half:,} bytes to resume"):
        download.fetch(item, tmp_path / "get", progress=False)
    path = download.fetch(item, tmp_path / "get", progress=False)
    assert path.read_bytes() == voc_archive[0]
    assert server.requests[-1] == ("/cut/voc.tar", f"bytes={half}-")  # only the rest was asked for


def test_offline_every_source_is_named_with_the_manual_route(offline, tmp_path):
    with pytest.raises(ConnectionError) as failed:
        download.prepare_voc(tmp_path / "voc", progress=False)
    message = str(failed.value)
    for url in download.VOC2012.urls:
        assert f"{url}: no answer" in message
    assert "By hand: get VOCtrainval_11-May-2012.tar (MD5 6cd6e144f989b92b3379bac3b3de84fd)" in message


def test_a_local_archive_or_folder_is_used_instead_of_a_download(offline, voc_archive, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "VOC2012", download.Download("a test VOC", "voc.tar", voc_archive[1], ()))
    (tmp_path / "voc.tar").write_bytes(voc_archive[0])
    root = download.prepare_voc(tmp_path / "voc", local=tmp_path / "voc.tar", progress=False)
    assert len(data.voc_dataset(root, "val")) == 2 and data.voc_dataset(root, "val").num_classes == 21
    assert download.prepare_voc(tmp_path / "elsewhere", local=root, progress=False) == root
    assert not (tmp_path / "elsewhere").exists()  # a folder the user has: read, nothing written
    (tmp_path / "bad.tar").write_bytes(voc_archive[0][:-10])
    with pytest.raises(ValueError, match="bad.tar is not a test VOC: its MD5 is not"):
        download.prepare_voc(tmp_path / "voc2", local=tmp_path / "bad.tar", progress=False)
    with pytest.raises(FileNotFoundError, match="holds no VOCdevkit/VOC2012"):
        download.prepare_voc(tmp_path / "voc2", local=tmp_path, progress=False)


def test_the_download_command_fetches_voc_and_the_paper_list(server, voc_archive, tmp_path, monkeypatch, capsys):
    ids = b"2007_000033\n2007_000042"
    server.files["seg11valid.txt"] = ids
    monkeypatch.setenv("FCN_LESSON_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(download, "VOC2012", item_for(server, *voc_archive, "/down/voc.tar", "/good/voc.tar"))
    monkeypatch.setattr(download, "SEG11VALID", download.Download(
        "a test list", "seg11valid.txt", hashlib.md5(ids).hexdigest(), (server.url("/good/seg11valid.txt"),)))
    assert main(["download", "--root", str(tmp_path / "voc"), "--no-sbd"]) == 0
    out = capsys.readouterr().out
    assert "seg11valid: 2 image ids" in out and f"--root {tmp_path / 'voc'}" in out
    assert (tmp_path / "voc" / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000042.jpg").is_file()


def test_the_papers_split_trains_on_sbd_train_and_scores_seg11valid(tmp_path, monkeypatch, capsys):
    voc = make_fake_voc(tmp_path / "voc", train=("2008_000001",), val=("2007_000033", "2007_000042", "2008_000002"))
    sbd = make_fake_sbd(tmp_path / "sbd", names=("2008_000001", "2008_000002", "2007_000042"))
    splits = tmp_path / "data" / "splits"
    splits.mkdir(parents=True)
    ids = b"2007_000033\n2007_000042"
    (splits / "seg11valid.txt").write_bytes(ids)  # put there by hand: used as it is
    monkeypatch.setenv("FCN_LESSON_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(download, "SEG11VALID", download.Download("a test list", "seg11valid.txt",
                                                                  hashlib.md5(ids).hexdigest(), ()))
    train, val = fullscale.voc_sets(voc, sbd_root=sbd, split="paper")
    assert [Path(val.files(i)[0]).stem for i in range(len(val))] == ["2007_000033", "2007_000042"]
    assert sorted(Path(train.dataset.files(i)[0]).stem for i in train.indices) == ["2008_000001", "2008_000002"]
    with pytest.raises(ValueError, match="the paper's split trains on SBD"):
        fullscale.voc_sets(voc, split="paper")
    with pytest.raises(ValueError, match="no split 'theirs'"):
        fullscale.voc_sets(voc, split="theirs")
    checkpoint = save_checkpoint(tmp_path / "voc.pt", FCN8s(21, backbone="mini"), epoch=1, epochs=1, history=[],
                                 config={}, fingerprint="x")
    assert main(["evaluate", str(checkpoint), "--root", str(voc), "--split", "seg11valid"]) == 0
    assert '"mean_iu"' in capsys.readouterr().out


def test_seg11valid_images_missing_from_the_voc_tree_are_named(tmp_path):
    voc = make_fake_voc(tmp_path / "voc")
    with pytest.raises(FileNotFoundError, match="1 of the 2 images of seg11valid have no label .*2011_000099"):
        data.voc_dataset(voc, "seg11valid", ids=["2007_000033", "2011_000099"])
