import numpy as np
import pytest
from PIL import Image

from fcn_lesson.__main__ import main

from fakes import make_fake_voc


@pytest.mark.parametrize("command", [[], ["make-data"], ["train"], ["evaluate"], ["predict"], ["student-edition"]])
def test_help_explains_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command + ["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "usage: python -m fcn_lesson" in text
    if not command:
        for name in ("make-data", "train", "evaluate", "predict", "student-edition"):
            assert name in text


def test_make_data_train_evaluate_predict(tmp_path, capsys):
    root, out = tmp_path / "data", tmp_path / "ckpt"
    assert main(["make-data", "--root", str(root), "--train", "4", "--val", "2", "--size", "64"]) == 0
    assert "wrote 4 train and 2 val scenes" in capsys.readouterr().out
    assert main(["train", "--scale", "quick", "--root", str(root), "--out", str(out)]) == 0
    assert "fcn8s" in capsys.readouterr().out
    assert main(["evaluate", str(out / "fcn8s.pt"), "--root", str(root)]) == 0
    assert '"mean_iu"' in capsys.readouterr().out
    image = tmp_path / "scene.jpg"
    Image.fromarray(np.zeros((50, 70, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(out / "fcn8s.pt"), str(image), "--out", str(tmp_path / "pred")]) == 0
    mask = Image.open(tmp_path / "pred" / "scene.png")
    assert mask.mode == "P" and mask.size == (70, 50)


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "x.pt"), "--root", str(tmp_path)]) == 2


def test_train_on_voc_at_smoke_scale(tmp_path, capsys):
    voc = make_fake_voc(tmp_path / "voc")
    assert main(["train", "--data", "voc", "--root", str(voc), "--backbone", "mini", "--random-init",
                 "--recipe", "paper", "--iterations", "1", "--workers", "0", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "paper recipe" in out and "random weights" in out and "fcn8s" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fcn16s.pt", "fcn32s.pt", "fcn8s.pt"]
    assert main(["evaluate", str(tmp_path / "out" / "fcn8s.pt"), "--root", str(voc), "--num-classes", "21"]) == 0
    assert main(["train", "--data", "voc", "--out", str(tmp_path / "x")]) == 2
    assert "--data voc needs --root" in capsys.readouterr().err
    assert main(["train", "--data", "voc", "--root", str(voc), "--backbone", "mini", "--out", str(tmp_path)]) == 2
    assert "ImageNet weights exist for backbone='vgg16' only" in capsys.readouterr().err


def test_student_edition_command(tmp_path, capsys):
    assert main(["student-edition", "--out", str(tmp_path / "student")]) == 0
    assert "solutions removed" in capsys.readouterr().out
    assert (tmp_path / "student" / "_toc.yml").exists()
