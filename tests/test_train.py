import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fcn_lesson import train
from fcn_lesson.models import FCN8s, FCN16s, FCN32s


def tiny_segmentation(n=8, size=40, classes=3):
    torch.manual_seed(0)
    labels = torch.randint(0, classes, (n, size, size))
    labels[:, :2] = 255
    images = torch.randn(n, 3, size, size) + labels.clamp(max=classes - 1)[:, None].float()
    return TensorDataset(images, labels)


def test_fit_learns_and_records_history():
    model = FCN32s(3, backbone="mini")
    history = train.fit(model, tiny_segmentation(), epochs=3, batch_size=4, lr=3e-3,
                        val_data=tiny_segmentation(4), progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert {"seconds", "images_per_s", "val_mean_iu", "val_pixel_accuracy"} <= set(history[-1])


def test_a_resumed_run_ends_with_the_same_weights(tmp_path):
    def run(epochs, model):
        return train.fit(model, tiny_segmentation(), epochs=epochs, batch_size=4, checkpoint=tmp_path / "c.pt",
                         progress=False, seed=7)

    torch.manual_seed(1)
    straight = FCN16s(3, backbone="mini")
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    train.fit(straight, tiny_segmentation(), epochs=2, batch_size=4, progress=False, seed=7)

    interrupted = FCN16s(3, backbone="mini")
    interrupted.load_state_dict(start)
    run(1, interrupted)
    resumed = FCN16s(3, backbone="mini")  # a fresh process: nothing but the checkpoint
    history = run(2, resumed)
    assert [h["epoch"] for h in history] == [1, 2]
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_checkpoint_round_trip_and_mismatches(tmp_path):
    model = FCN8s(7, backbone="mini")
    path = train.save_checkpoint(tmp_path / "m.pt", model, epoch=3)
    other = FCN8s(7, backbone="mini")
    assert train.load_checkpoint(path, other)["epoch"] == 3
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    with pytest.raises(ValueError, match="holds a FCN8s, with 7 classes.*this model is a FCN8s, with 21 classes"):
        train.load_checkpoint(path, FCN8s(21, backbone="mini"))
    with pytest.raises(ValueError, match="this model is a FCN16s"):
        train.load_checkpoint(path, FCN16s(7, backbone="mini"))
    with pytest.raises(FileNotFoundError, match="train one first"):
        train.load_checkpoint(tmp_path / "none.pt", model)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a readable checkpoint"):
        train.load_checkpoint(tmp_path / "junk.pt", model)
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not written by fcn_lesson"):
        train.load_checkpoint(tmp_path / "foreign.pt", model)


def test_a_crash_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    model = FCN32s(3, backbone="mini")
    path = train.save_checkpoint(tmp_path / "m.pt", model, epoch=1)
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
        train.save_checkpoint(path, model, epoch=2)
    monkeypatch.setattr(torch, "save", real_save)
    fresh = FCN32s(3, backbone="mini")
    assert train.load_checkpoint(path, fresh)["epoch"] == 1
    assert fresh.score_fr.bias.abs().sum() == 0


def test_evaluate_scores_segmentation_and_classification():
    identity = nn.Identity()
    labels = torch.randint(0, 3, (4, 6, 6))
    images = nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()  # argmax = the label
    result = train.evaluate(identity, TensorDataset(images, labels))
    assert result["mean_iu"] == 1.0 and result["confusion"].sum() == 4 * 36
    result = train.evaluate(identity, TensorDataset(torch.eye(3)[[0, 1, 2, 2]], torch.tensor([0, 1, 2, 0])))
    assert result == {"accuracy": 0.75}


def test_options_are_checked():
    model, data = FCN32s(3, backbone="mini"), tiny_segmentation(2)
    for option, value in (("optimizer", "rmsprop"), ("schedule", "cosine"), ("loss", "max")):
        with pytest.raises(ValueError, match=option):
            train.fit(model, data, epochs=1, progress=False, **{option: value})


def test_poly_schedule_and_summed_loss_run():
    model = FCN32s(3, backbone="mini")
    history = train.fit(model, tiny_segmentation(4), epochs=1, batch_size=2, lr=1e-3, optimizer="sgd",
                        momentum=0.99, loss="sum", schedule="poly", progress=False)
    assert history[0]["loss"] > 100  # a sum over pixels, not a mean


def test_pick_device():
    assert train.pick_device("cpu") == torch.device("cpu")
    assert train.pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_evaluate_scores_the_boundary_band():
    identity = nn.Identity()
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    labels[:, 2:6, 2:6] = 1
    perfect = nn.functional.one_hot(labels, 2).permute(0, 3, 1, 2).float()
    assert train.evaluate(identity, TensorDataset(perfect, labels), boundary=1)["boundary_accuracy"] == 1.0
    blurred = perfect.clone()
    blurred[:, :, 2, :] = torch.tensor([1.0, 0.0])[:, None]  # the top row of the square called background
    result = train.evaluate(identity, TensorDataset(blurred, labels), boundary=1)
    assert result["boundary_accuracy"] < result["pixel_accuracy"] < 1.0
    assert "boundary_accuracy" not in train.evaluate(identity, TensorDataset(perfect, labels))


def test_validation_of_images_of_different_sizes_in_batches_of_one():
    model = FCN32s(3, backbone="mini")
    val = [(torch.randn(3, 40, 40), torch.zeros(40, 40, dtype=torch.long)),
           (torch.randn(3, 32, 48), torch.zeros(32, 48, dtype=torch.long))]
    history = train.fit(model, tiny_segmentation(4), epochs=1, batch_size=2, val_data=val, val_batch_size=1,
                        progress=False)
    assert "val_mean_iu" in history[0]


def test_strip_checkpoint_keeps_the_weights_and_drops_the_optimizer(tmp_path):
    model = FCN32s(3, backbone="mini")
    history = train.fit(model, tiny_segmentation(2), epochs=1, batch_size=2, checkpoint=tmp_path / "m.pt",
                        progress=False)
    full = (tmp_path / "m.pt").stat().st_size
    train.strip_checkpoint(tmp_path / "m.pt")
    assert (tmp_path / "m.pt").stat().st_size < full / 2
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert "optimizer" not in state and state["history"] == history
    loaded = FCN32s(3, backbone="mini")
    train.load_checkpoint(tmp_path / "m.pt", loaded)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert not list(tmp_path.glob("*.tmp"))


def test_only_rank_zero_is_the_main_process(monkeypatch):
    assert train.is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not train.is_main_process()
    monkeypatch.setenv("RANK", "0")
    assert train.is_main_process()


def test_predict_one_image_or_a_batch_in_eval_mode():
    model = FCN32s(3, backbone="mini").train()
    torch.nn.init.normal_(model.score_fr.weight)
    images = torch.randn(2, 3, 40, 50)
    single, batch = train.predict(model, images[0]), train.predict(model, images)
    assert single.shape == (40, 50) and batch.shape == (2, 40, 50) and not single.is_floating_point()
    assert model.training  # its mode is restored
    with torch.no_grad():
        assert torch.equal(batch, model.eval()(images).argmax(1))
    assert torch.equal(single, batch[0])
