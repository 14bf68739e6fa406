"""Checkpoints: atomic, self-describing, and refused with a reason when they do not fit."""
import pytest
import torch

from fcn_lesson import checkpoints
from fcn_lesson.models import FCN8s, FCN16s, FCN32s, VGGClassifier
from fcn_lesson.registry import model_spec

ENTRIES = {"epoch": 3, "epochs": 3, "history": [], "config": {}, "fingerprint": "x"}


def test_checkpoint_round_trip_and_mismatches(tmp_path):
    model = FCN8s(7, backbone="mini")
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, **ENTRIES)
    other = FCN8s(7, backbone="mini")
    assert checkpoints.load_checkpoint(path, other)["epoch"] == 3
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    with pytest.raises(ValueError, match="holds a fcn8s with 7 classes.*this model is a fcn8s with 21 classes"):
        checkpoints.load_checkpoint(path, FCN8s(21, backbone="mini"))
    with pytest.raises(ValueError, match="this model is a fcn16s"):
        checkpoints.load_checkpoint(path, FCN16s(7, backbone="mini"))
    with pytest.raises(FileNotFoundError, match="train one first"):
        checkpoints.load_checkpoint(tmp_path / "none.pt", model)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a readable checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "junk.pt", model)
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not written by fcn_lesson"):
        checkpoints.load_checkpoint(tmp_path / "foreign.pt", model)


def test_finished_run_is_a_checkpoint_that_trained_all_its_epochs(tmp_path):
    model = FCN8s(7, backbone="mini")
    finished = checkpoints.save_checkpoint(tmp_path / "done.pt", model, **ENTRIES)
    stopped = checkpoints.save_checkpoint(tmp_path / "stopped.pt", model, **{**ENTRIES, "epoch": 2})
    assert checkpoints.finished_run(finished)["fingerprint"] == "x"
    assert checkpoints.finished_run(stopped) is None
    assert checkpoints.finished_run(tmp_path / "none.pt") is None
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a readable checkpoint"):
        checkpoints.finished_run(tmp_path / "junk.pt")


def test_a_crash_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    model = FCN32s(3, backbone="mini")
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, **{**ENTRIES, "epoch": 1})
    real_save = torch.save

    def dying_save(obj, target, *args, **kwargs):
        real_save(obj, target, *args, **kwargs)
        with open(target, "r+b") as f:  # half written, then the process is killed
            f.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dying_save)
    with torch.no_grad():
        model.score_fr.bias.fill_(1.0)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save_checkpoint(path, model, **{**ENTRIES, "epoch": 2})
    monkeypatch.setattr(torch, "save", real_save)
    fresh = FCN32s(3, backbone="mini")
    assert checkpoints.load_checkpoint(path, fresh)["epoch"] == 1
    assert fresh.score_fr.bias.abs().sum() == 0


def test_load_model_needs_only_the_path(tmp_path):
    for model in (FCN8s(7, backbone="mini", at_once=True), FCN16s(4, backbone="mini", learnable_upsampling=True),
                  FCN32s(3, backbone="mini", padding=80), VGGClassifier(6, backbone="mini")):
        path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, **ENTRIES)
        loaded = checkpoints.load_model(path)
        assert type(loaded) is type(model) and not loaded.training
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
        assert checkpoints.read_checkpoint(path)["model"] == model_spec(loaded)
    assert loaded.num_classes == 6


def test_a_crafted_or_damaged_checkpoint_gets_a_clear_error(tmp_path):
    model = FCN32s(3, backbone="mini")
    path = checkpoints.save_checkpoint(tmp_path / "m.pt", model, **ENTRIES)
    state = torch.load(path, weights_only=True)
    for broken, message in (({k: v for k, v in state.items() if k != "history"}, "lacks history"),
                            ({**state, "format": 1}, "format 1, this one reads 2"),
                            ({**state, "model": {"name": "fcn4s"}}, "not a model description"),
                            ({**state, "state_dict": {k: v for k, v in state["state_dict"].items()
                                                      if "fc6" not in k}}, "does not fit its own model")):
        torch.save(broken, tmp_path / "broken.pt")
        with pytest.raises(ValueError, match=message):
            checkpoints.load_model(tmp_path / "broken.pt")


def test_fingerprints_are_stable_and_tell_descriptions_apart():
    assert checkpoints.fingerprint({"a": 1, "b": [1, 2]}) == checkpoints.fingerprint({"b": [1, 2], "a": 1})
    assert checkpoints.fingerprint({"a": 1}) != checkpoints.fingerprint({"a": 2})
