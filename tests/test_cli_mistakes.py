"""A new user's mistakes, one by one: each ends in one `error:` line naming the option or path and the
fix, and none loses a file."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fcn_lesson import data, recipe
from fcn_lesson.checkpoints import save_checkpoint
from fcn_lesson.cli import main
from fcn_lesson.descendants import UNetFCN
from fcn_lesson.models import FCN8s

from fakes import make_fake_voc

REPOSITORY = Path(__file__).resolve().parent.parent


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err  # one line, no traceback
    return err[0]


def snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """The quick recipe's scenes, made by make-data: (root, an untrained FCN-8s checkpoint)."""
    tmp = tmp_path_factory.mktemp("mistakes")
    quick = recipe.QUICK
    root = data.make_dataset(tmp / "scenes", train=quick.train_scenes, val=quick.val_scenes,
                             size=quick.scene_size, seed=quick.scene_seed)
    checkpoint = save_checkpoint(tmp / "fcn8s.pt", FCN8s(len(data.CLASSES), backbone="mini"), epoch=1,
                                 epochs=1, history=[], config={}, fingerprint="x")
    return root, checkpoint


@pytest.mark.parametrize("command, named", [
    (["make-data", "--train", "-5"], "argument --train: must be a whole number >= 1, got '-5'"),
    (["make-data", "--train", "0"], "argument --train: must be a whole number >= 1, got '0'"),
    (["make-data", "--val", "x"], "argument --val: must be a whole number >= 1, got 'x'"),
    (["make-data", "--size", "0"], "argument --size: must be a whole number >= 32"),
    (["make-data", "--seed", "-1"], "argument --seed: must be a whole number >= 0"),
    (["train", "--steps", "0"], "argument --steps: must be a whole number >= 1"),
    (["train", "--steps", "-1"], "argument --steps: must be a whole number >= 1"),
    (["train", "--limit", "0"], "argument --limit: must be a whole number >= 1"),
    (["train", "--workers", "-1"], "argument --workers: must be a whole number >= 0"),
    (["train", "--device", "mps"], "argument --device: device mps is not one this module trains on"),
    (["train", "--device", "xpu"], "argument --device: device xpu is not one this module trains on"),
    (["train", "--device", "cpu:1"], "argument --device: device cpu:1 does not exist"),
    (["train", "--device", "gpu"], "argument --device: unknown device 'gpu'"),
    (["train", "--plan", "fast"], "argument --plan: invalid choice: 'fast'"),
    (["evaluate", "x.pt", "--boundary", "-1"], "argument --boundary: must be a whole number >= 0"),
    (["evaluate", "x.pt", "--device", "cpu:1"], "argument --device: device cpu:1 does not exist"),
    (["predict", "x.pt"], "the following arguments are required: images"),
    (["fly"], "argument COMMAND: invalid choice: 'fly'"),
])
def test_an_option_out_of_range_is_named_in_one_line_before_anything_runs(command, named, capsys):
    assert main(command) == 2
    line = error_line(capsys)
    assert named in line and "--help" in line


def test_the_plan_option_explains_every_plan(capsys):
    main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for plan in recipe.PLANS:
        assert f"{plan} (" in text


def test_a_rank_without_a_torchrun_job_is_refused(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["train", "--recipe", "quick", "--out", str(tmp_path / "out")]) == 2
    assert "RANK=1 is set but WORLD_SIZE is not above 1" in error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("data, complaint", [
    ("shapes", "no such folder; pass a folder of checkpoints written by train"),
    ("voc", "for --data shapes only"),
])
def test_reuse_of_a_folder_that_is_not_there_or_with_voc_is_one_line(data, complaint, tmp_path, capsys):
    reuse = tmp_path / "nowhere"
    if data == "voc":
        reuse.mkdir()
    assert main(["train", "--data", data, "--reuse", str(reuse), "--out", str(tmp_path / "out")]) == 2
    assert f"--reuse {reuse}: {complaint}" in error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_training_on_scenes_made_with_other_settings_leaves_them_alone(tmp_path, capsys):
    root = tmp_path / "mine"
    assert main(["make-data", "--root", str(root), "--train", "4", "--val", "2", "--size", "64"]) == 0
    before = snapshot(root)
    capsys.readouterr()
    assert main(["train", "--recipe", "quick", "--root", str(root), "--out", str(tmp_path / "out")]) == 2
    line = error_line(capsys)
    assert f"{root} holds other scenes (train 4, val 2, size 64, seed 0)" in line and "new or empty" in line
    assert snapshot(root) == before
    assert main(["make-data", "--root", str(root), "--train", "5"]) == 2  # make-data does not either
    assert "holds other scenes" in error_line(capsys) and snapshot(root) == before


def test_the_committed_sample_is_never_rewritten(capsys):
    sample = REPOSITORY / "data" / "sample"
    before = snapshot(sample)
    assert main(["make-data", "--root", str(sample)]) == 2
    assert "holds other scenes" in error_line(capsys)
    assert main(["train", "--recipe", "quick", "--root", str(sample), "--out", str(sample / "x")]) == 2
    assert "holds other scenes" in error_line(capsys)
    assert snapshot(sample) == before and not (sample / "x").exists()


def test_evaluate_scores_every_segmentation_model_and_refuses_a_mismatch(scenes, tmp_path, capsys):
    root, _ = scenes
    unet = save_checkpoint(tmp_path / "unet.pt", UNetFCN(len(data.CLASSES)), epoch=1, epochs=1, history=[],
                           config={}, fingerprint="x")
    assert main(["evaluate", str(unet), "--root", str(root)]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["mean_iu"] <= 1
    voc = save_checkpoint(tmp_path / "voc.pt", FCN8s(21, backbone="mini"), epoch=1, epochs=1, history=[],
                          config={}, fingerprint="x")
    assert main(["evaluate", str(voc), "--root", str(root)]) == 2  # the book's scenes: 7 classes
    assert "tells 21 classes apart, the book's scenes 7: pass --root" in error_line(capsys)
    # on a VOC tree where most of the 21 classes appear nowhere: their IU is undefined, and JSON says null
    assert main(["evaluate", str(voc), "--root", str(make_fake_voc(tmp_path / "voc"))]) == 0
    scored = json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert None in scored["class_iu"]
    _, scenes_model = scenes
    assert main(["evaluate", str(scenes_model), "--root", str(tmp_path / "voc")]) == 2
    assert "tells 7 classes apart, PASCAL VOC 21: pass --root" in error_line(capsys)


def test_a_split_that_is_not_there_names_those_that_are(scenes, capsys):
    root, checkpoint = scenes
    assert main(["evaluate", str(checkpoint), "--root", str(root), "--split", "test"]) == 2
    assert "no split 'test' in" in (line := error_line(capsys)) and "it has train, trainval, val" in line


def test_a_damaged_split_names_the_line_or_the_file_and_never_says_delete(tmp_path, capsys):
    voc = make_fake_voc(tmp_path / "voc", val=("2007_000033", "2007_000042"))
    checkpoint = save_checkpoint(tmp_path / "voc.pt", FCN8s(21, backbone="mini"), epoch=1, epochs=1,
                                 history=[], config={}, fingerprint="x")
    splits = voc / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    (splits / "val.txt").write_text("2007_000033\n\n2007_000042\n")
    assert main(["evaluate", str(checkpoint), "--root", str(voc)]) == 2
    assert "line 2 of" in (line := error_line(capsys)) and "is blank: remove it" in line
    (splits / "val.txt").write_text("2007_000033\n2007_000099\n")
    assert main(["evaluate", str(checkpoint), "--root", str(voc)]) == 2
    line = error_line(capsys)
    assert "2007_000099.jpg is missing, but its split file lists it" in line and "delete" not in line
    (voc / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000042.jpg").write_bytes(b"not a jpeg")
    (splits / "val.txt").write_text("2007_000042\n")
    assert main(["evaluate", str(checkpoint), "--root", str(voc)]) == 2
    line = error_line(capsys)
    assert "the file is damaged; replace it" in line and "delete" not in line


def test_sbd_that_is_not_there_says_what_sbd_looks_like(tmp_path, capsys):
    voc = make_fake_voc(tmp_path / "voc")
    assert main(["train", "--data", "voc", "--root", str(voc), "--sbd", str(tmp_path / "nowhere"),
                 "--random-init", "--backbone", "mini", "--out", str(tmp_path / "out")]) == 2
    line = error_line(capsys)
    assert "no SBD split train_noval.txt" in line and "benchmark_RELEASE/dataset" in line
    assert "make-data" not in line


def test_predict_of_a_missing_file_writes_nothing(scenes, tmp_path, capsys):
    _, checkpoint = scenes
    assert main(["predict", str(checkpoint), str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "p")]) == 2
    assert "nope.jpg does not exist" in error_line(capsys)
    assert not (tmp_path / "p").exists()


def test_predict_turns_phone_photos_upright(scenes, tmp_path, capsys):
    _, checkpoint = scenes
    photo = Image.fromarray(np.zeros((40, 64, 3), dtype=np.uint8))  # stored 64 wide, 40 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    photo.save(tmp_path / "phone.jpg", exif=exif)
    assert main(["predict", str(checkpoint), str(tmp_path / "phone.jpg"), "--out", str(tmp_path / "p")]) == 0
    assert Image.open(tmp_path / "p" / "phone.png").size == (40, 64)  # as the phone shows it: 40 wide


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    grey = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert np.asarray(data.read_image(tmp_path / "deep.png"))[0, :, 0].tolist() == [0, 1, 128, 255]


def test_student_edition_is_reproducible_and_never_overwrites_a_students_edit(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["student-edition", "--out", str(out)]) == 0
    first = snapshot(out)
    assert main(["student-edition", "--out", str(out)]) == 0
    assert snapshot(out) == first  # byte for byte
    chapter = out / "book" / "01_task_data_scores.ipynb"
    chapter.write_text(chapter.read_text().replace("your code here", "my answer"))
    edited = chapter.read_bytes()
    capsys.readouterr()
    assert main(["student-edition", "--out", str(out)]) == 2
    assert f"{chapter} was changed since student-edition wrote it" in error_line(capsys)
    assert chapter.read_bytes() == edited


@pytest.mark.parametrize("same", ["book", "out"])
def test_student_edition_into_the_book_itself_is_one_line(tmp_path, capsys, same):
    book = tmp_path / "copy"
    (book / "book").mkdir(parents=True)
    out = book if same == "book" else book / "book"
    assert main(["student-edition", "--book", str(book), "--out", str(out)]) == 2
    assert "is the book itself or inside its chapters" in error_line(capsys)


def test_ctrl_c_while_torch_loads_is_one_line(tmp_path):
    """`python -m fcn_lesson` interrupted while it imports torch (a Ctrl-C during the first seconds)."""
    code = ("import runpy, sys\n"
            "class Interrupt:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'torch':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "sys.argv = ['fcn_lesson', 'train']\n"
            "runpy.run_module('fcn_lesson', run_name='__main__', alter_sys=True)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
    assert done.returncode == 130
    assert done.stderr.strip().splitlines() == ["error: interrupted while starting: nothing was written"]


def test_a_checkpoint_with_nan_weights_is_not_scored(scenes, tmp_path, capsys):
    root, _ = scenes
    model = FCN8s(len(data.CLASSES), backbone="mini")
    with torch.no_grad():
        model.score_fr.bias.fill_(float("nan"))
    nan = save_checkpoint(tmp_path / "nan.pt", model, epoch=1, epochs=1, history=[], config={}, fingerprint="x")
    assert main(["evaluate", str(nan), "--root", str(root)]) == 2
    assert "not finite" in error_line(capsys)
