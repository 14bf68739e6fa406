"""The command line as a user meets it: every mistake is one `error:` line, nothing of theirs is lost."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fcn_lesson import data, folders, plans, recipe
from fcn_lesson.cli import main
from fcn_lesson.checkpoints import load_model, read_checkpoint
from fcn_lesson.train import evaluate

from fakes import make_fake_voc

REPOSITORY = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A quick staged run on small scenes: (scenes root, checkpoint folder)."""
    tmp = tmp_path_factory.mktemp("cli")
    root, out = tmp / "data", tmp / "ckpt"
    quick = recipe.QUICK
    assert main(["make-data", "--root", str(root), "--train", str(quick.train_scenes), "--val",
                 str(quick.val_scenes), "--size", str(quick.scene_size)]) == 0
    assert main(["train", "--recipe", "quick", "--root", str(root), "--out", str(out)]) == 0
    return root, out


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err  # one line, no traceback
    return err[0]


def image_file(path, size=(50, 70)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((*size, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("command", [[], ["make-data"], ["train"], ["evaluate"], ["predict"], ["download"],
                                     ["student-edition"]])
def test_help_explains_every_command(command, capsys):
    assert main(command + ["--help"]) == 0
    text = capsys.readouterr().out
    assert "usage: python -m fcn_lesson" in text
    if not command:
        for name in ("make-data", "train", "evaluate", "predict", "download", "student-edition"):
            assert name in text


def test_make_data_train_evaluate_predict_need_only_a_checkpoints_path(trained, tmp_path, capsys):
    root, out = trained
    capsys.readouterr()
    assert main(["evaluate", str(out / "fcn8s.pt"), "--root", str(root)]) == 0
    assert '"mean_iu"' in capsys.readouterr().out
    assert main(["predict", str(out / "fcn16s.pt"), str(image_file(tmp_path / "scene.jpg")),
                 "--out", str(tmp_path / "pred")]) == 0
    mask = Image.open(tmp_path / "pred" / "scene.png")
    assert mask.mode == "P" and mask.size == (70, 50)


def test_evaluate_on_the_train_split_scores_without_augmentation(trained, capsys):
    root, out = trained
    capsys.readouterr()
    runs = []
    for _ in range(2):
        assert main(["evaluate", str(out / "fcn32s.pt"), "--root", str(root), "--split", "train"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0] == runs[1]


def test_evaluate_scores_a_voc_tree_of_mixed_image_sizes(tmp_path, capsys):
    voc = make_fake_voc(tmp_path / "voc", val=("2007_000033", "2007_000042", "2007_000061"))
    small = voc / "VOCdevkit" / "VOC2012"
    for name, size in (("2007_000042", (30, 44)), ("2007_000061", (48, 36))):  # resize two of them
        Image.open(small / "JPEGImages" / f"{name}.jpg").resize(size[::-1]).save(small / "JPEGImages" / f"{name}.jpg")
        label = Image.open(small / "SegmentationClass" / f"{name}.png")
        label.resize(size[::-1], Image.NEAREST).save(small / "SegmentationClass" / f"{name}.png")
    assert main(["train", "--data", "voc", "--root", str(voc), "--backbone", "mini", "--random-init",
                 "--recipe", "paper", "--steps", "1", "--workers", "0", "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    checkpoint = tmp_path / "out" / "fcn8s.pt"
    assert main(["evaluate", str(checkpoint), "--root", str(voc)]) == 0
    printed = json.loads(capsys.readouterr().out)
    model, split = load_model(checkpoint), data.voc_dataset(voc, "val", augment=False)
    one_by_one = sum(evaluate(model, [split[i]], num_classes=21)["confusion"] for i in range(len(split)))
    expected = evaluate(model, split)
    assert torch.equal(expected["confusion"], one_by_one)
    assert printed["mean_iu"] == pytest.approx(expected["mean_iu"])


def test_train_on_voc_at_smoke_scale_and_its_mistakes(tmp_path, capsys):
    voc = make_fake_voc(tmp_path / "voc")
    assert main(["train", "--data", "voc", "--root", str(voc), "--backbone", "mini", "--random-init",
                 "--recipe", "paper", "--steps", "1", "--workers", "0", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "paper recipe" in out and "random weights" in out and "fcn8s" in out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.pt")) == ["fcn16s.pt", "fcn32s.pt", "fcn8s.pt"]
    assert main(["train", "--data", "voc", "--out", str(tmp_path / "x")]) == 2
    assert "--data voc needs --root" in error_line(capsys)
    assert main(["train", "--data", "voc", "--root", str(voc), "--backbone", "mini", "--out", str(tmp_path / "y")]) == 2
    assert "ImageNet weights exist for backbone='vgg16' only" in error_line(capsys)
    assert main(["train", "--data", "voc", "--recipe", "cpu", "--root", str(voc)]) == 2
    assert "--recipe cpu is not a recipe for --data voc; use one of paper, modern" in error_line(capsys)
    assert main(["train", "--sbd", str(tmp_path), "--out", str(tmp_path / "z")]) == 2
    assert "--sbd: for --data voc only" in error_line(capsys)


def test_training_on_with_other_settings_is_refused_naming_the_change(trained, tmp_path, capsys):
    out = trained[1]
    before = {p.name: p.read_bytes() for p in out.glob("*.pt")}
    capsys.readouterr()
    command = ["train", "--recipe", "cpu", "--root", str(tmp_path / "data"), "--out", str(out), "--device", "cpu"]
    assert main(command) == 2
    line = error_line(capsys)
    assert "classifier.pt was made by another run (epochs 1 -> 4" in line and "train into another folder" in line
    assert {p.name: p.read_bytes() for p in out.glob("*.pt")} == before


def test_ctrl_c_says_where_the_last_checkpoint_is_and_the_same_command_resumes(tmp_path, monkeypatch, capsys):
    command = ["train", "--recipe", "quick", "--root", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    real_fit = plans.fit

    def interrupted_at_fcn32s(model, *args, **kwargs):
        if kwargs["checkpoint"].stem == "fcn32s":
            raise KeyboardInterrupt
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(plans, "fit", interrupted_at_fcn32s)
    assert main(command) == 130
    line = error_line(capsys)
    assert f"the last checkpoint is {tmp_path / 'out' / 'classifier.pt'} (epoch 1 of 1)" in line
    assert "run the same command to resume" in line
    monkeypatch.setattr(plans, "fit", real_fit)
    classifier = (tmp_path / "out" / "classifier.pt").read_bytes()
    assert main(command) == 0
    assert (tmp_path / "out" / "classifier.pt").read_bytes() == classifier  # resumed, not retrained


def test_a_second_training_into_the_same_folder_fails_at_once(tmp_path, capsys):
    out = folders.claim(tmp_path / "out", "train")
    with folders.lock(out, "training"):
        assert main(["train", "--recipe", "quick", "--root", str(tmp_path / "data"), "--out", str(out)]) == 2
    assert "is in use by another training" in error_line(capsys)


def test_no_command_deletes_or_overwrites_what_it_did_not_make(tmp_path, trained, capsys):
    book = {p: p.stat().st_mtime_ns for p in (REPOSITORY / "book").iterdir()}
    for out in (REPOSITORY / "book", REPOSITORY, REPOSITORY.parent):
        assert main(["student-edition", "--out", str(out)]) == 2
        line = error_line(capsys)
        assert "student-edition writes only into a new or empty folder" in line or "the book itself" in line
    assert {p: p.stat().st_mtime_ns for p in (REPOSITORY / "book").iterdir()} == book

    voc = make_fake_voc(tmp_path / "voc")
    tree = {p: p.read_bytes() for p in voc.rglob("*") if p.is_file()}
    assert main(["train", "--root", str(voc), "--recipe", "quick", "--out", str(tmp_path / "o")]) == 2
    assert "holds a VOC tree that was not generated here" in error_line(capsys)
    assert {p: p.read_bytes() for p in voc.rglob("*") if p.is_file()} == tree

    scene = image_file(tmp_path / "dir" / "scene.png")
    original = scene.read_bytes()
    assert main(["predict", str(trained[1] / "fcn8s.pt"), str(scene), "--out", str(scene.parent)]) == 2
    assert "dir is not empty and was not made by predict" in error_line(capsys)
    assert scene.read_bytes() == original

    (tmp_path / "afile").write_text("x")
    assert main(["train", "--recipe", "quick", "--out", str(tmp_path / "afile")]) == 2
    assert "afile is a file, not a folder" in error_line(capsys)


def test_predict_takes_files_and_folders_names_equal_stems_apart_and_skips_bad_images(trained, tmp_path, capsys):
    a, b = image_file(tmp_path / "a" / "photo.jpg"), image_file(tmp_path / "b" / "photo.jpg", size=(30, 40))
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    capsys.readouterr()
    code = main(["predict", str(trained[1] / "fcn8s.pt"), str(a), str(tmp_path / "b"), "--out", str(tmp_path / "p")])
    assert code == 1
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "broken.png" in captured.err and "1 of 3 images" in captured.err
    masks = sorted(p.name for p in (tmp_path / "p").glob("*.png"))
    assert masks == ["photo-2.png", "photo.png"]
    assert Image.open(tmp_path / "p" / "photo-2.png").size == (40, 30)
    assert main(["predict", str(trained[1] / "fcn8s.pt"), str(a), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "photo-3.png").exists()  # the earlier masks are kept


def test_user_errors_are_one_line_with_exit_code_2(trained, tmp_path, capsys):
    root, out = trained
    assert main(["evaluate", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint at" in error_line(capsys)
    assert main(["evaluate", str(out / "classifier.pt"), "--root", str(root)]) == 2
    assert "holds a classifier, which labels whole images, not pixels" in error_line(capsys)
    crafted = read_checkpoint(out / "fcn8s.pt")
    del crafted["fingerprint"]
    torch.save(crafted, tmp_path / "crafted.pt")
    assert main(["evaluate", str(tmp_path / "crafted.pt"), "--root", str(root)]) == 2
    assert "crafted.pt lacks fingerprint" in error_line(capsys)
    if not torch.cuda.is_available():
        assert main(["evaluate", str(out / "fcn8s.pt"), "--root", str(root), "--device", "cuda"]) == 2
        assert "no CUDA GPU: use cpu" in error_line(capsys)
    empty = make_fake_voc(tmp_path / "voc", val=())
    assert main(["evaluate", str(out / "fcn8s.pt"), "--root", str(empty)]) == 2
    assert "val.txt lists no images" in error_line(capsys)


def test_student_edition_command(tmp_path, capsys):
    assert main(["student-edition", "--out", str(tmp_path / "student")]) == 0
    assert "solutions removed" in capsys.readouterr().out
    assert (tmp_path / "student" / "_toc.yml").exists()
    assert main(["student-edition", "--out", str(tmp_path / "student")]) == 0  # its own folder: written again


def test_train_reuses_finished_stages_and_strips_only_what_it_wrote(trained, tmp_path):
    root, shipped = trained
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    out = tmp_path / "more"
    assert main(["train", "--recipe", "quick", "--root", str(root), "--reuse", str(shipped), "--weights-only",
                 "--out", str(out)]) == 0
    assert not list(out.glob("*.pt"))  # every stage was finished there, by the same runs
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before
    assert main(["train", "--recipe", "quick", "--root", str(root), "--plan", "ablation", "--reuse", str(shipped),
                 "--weights-only", "--out", str(out)]) == 0
    written = {p.stem for p in out.glob("*.pt")}
    assert "classifier" not in written and "fcn8s_one_stage" in written
    assert all("optimizer" not in read_checkpoint(out / f"{name}.pt") for name in written)
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before


def test_train_stage_trains_that_stage_and_what_it_starts_from_only(trained, tmp_path, capsys):
    root, shipped = trained
    out = tmp_path / "one"
    assert main(["train", "--recipe", "quick", "--root", str(root), "--plan", "ablation", "--stage",
                 "fcn16s_one_stage", "--reuse", str(shipped), "--out", str(out)]) == 0
    assert [p.stem for p in out.glob("*.pt")] == ["fcn16s_one_stage"]  # its classifier came from --reuse
    capsys.readouterr()
    assert main(["train", "--recipe", "quick", "--root", str(root), "--stage", "fcn4s", "--out", str(out)]) == 2
    assert "--stage fcn4s: plan 'staged' has no such stage; pass one of classifier, fcn32s" in error_line(capsys)
    assert main(["train", "--data", "voc", "--root", str(tmp_path), "--stage", "fcn32s", "--out", str(out)]) == 2
    assert "--stage fcn32s: for --data shapes only" in error_line(capsys)
