import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fcn_lesson import checkpoints, train
from fcn_lesson.models import FCN8s, FCN16s, FCN32s
from fcn_lesson.train import TrainConfig


def tiny_segmentation(n=8, size=40, classes=3):
    torch.manual_seed(0)
    labels = torch.randint(0, classes, (n, size, size))
    labels[:, :2] = 255
    images = torch.randn(n, 3, size, size) + labels.clamp(max=classes - 1)[:, None].float()
    return TensorDataset(images, labels)


def test_fit_learns_and_records_history():
    model = FCN32s(3, backbone="mini")
    result = train.fit(model, tiny_segmentation(), TrainConfig(epochs=3, batch_size=4, lr=3e-3),
                       val_data=tiny_segmentation(4), progress=False)
    history = result.history
    assert result.model is model and result.seconds == sum(h["seconds"] for h in history)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert {"seconds", "images_per_s", "val_mean_iu", "val_pixel_accuracy"} <= set(history[-1])


def test_a_resumed_run_ends_with_the_same_weights(tmp_path, capsys):
    config = TrainConfig(epochs=2, batch_size=4, lr_schedule="poly", seed=7)
    torch.manual_seed(1)
    straight = FCN16s(3, backbone="mini")
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    train.fit(straight, tiny_segmentation(), config, progress=False)

    class Interrupt(Exception):
        pass

    interrupted = FCN16s(3, backbone="mini")
    interrupted.load_state_dict(start)
    real_save = checkpoints.save_checkpoint

    def save_then_stop(*args, **kwargs):  # the process dies right after the first epoch's checkpoint
        real_save(*args, **kwargs)
        raise Interrupt

    train.save_checkpoint = save_then_stop
    try:
        with pytest.raises(Interrupt):
            train.fit(interrupted, tiny_segmentation(), config, checkpoint=tmp_path / "c.pt", progress=False)
    finally:
        train.save_checkpoint = real_save
    resumed = FCN16s(3, backbone="mini")  # a fresh process: nothing but the checkpoint
    capsys.readouterr()
    history = train.fit(resumed, tiny_segmentation(), config, checkpoint=tmp_path / "c.pt").history
    assert [h["epoch"] for h in history] == [1, 2]
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert capsys.readouterr().out.startswith("c.pt: resumed after epoch 1 (1 of 2 epochs)\n")
    train.fit(FCN16s(3, backbone="mini"), tiny_segmentation(), config, checkpoint=tmp_path / "c.pt")
    assert capsys.readouterr().out == "c.pt: finished, loaded (2 of 2 epochs)\n"


def test_the_order_of_the_batches_is_the_seeded_loaders_with_or_without_a_bar(monkeypatch):
    """Each epoch's order is a DataLoader's shuffle with its generator seeded ``seed * 100003 + epoch``,
    so a loop written by hand reproduces it; the notebook bar once drew from the generator too."""
    seen = []

    class Logged(torch.utils.data.Dataset):
        data = tiny_segmentation(8)

        def __len__(self):
            return len(self.data)

        def __getitem__(self, index):
            seen.append(index)
            return self.data[index]

    config = TrainConfig(epochs=2, batch_size=4, seed=3)
    orders = []
    for watched in (False, True):
        monkeypatch.setattr(train, "live", lambda: watched)
        seen.clear()
        train.fit(FCN32s(3, backbone="mini"), Logged(), config, progress=True)
        orders.append(list(seen))
    generator, expected = torch.Generator(), []
    for epoch in range(config.epochs):
        generator.manual_seed(config.seed * 100_003 + epoch)
        loader = torch.utils.data.DataLoader(range(8), batch_size=4, shuffle=True, generator=generator)
        expected += [int(index) for batch in loader for index in batch]
    assert orders[0] == orders[1] == expected


def test_evaluate_scores_segmentation_and_classification():
    identity = nn.Identity()
    labels = torch.randint(0, 3, (4, 6, 6))
    images = nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()  # argmax = the label
    result = train.evaluate(identity, TensorDataset(images, labels))
    assert result["mean_iu"] == 1.0 and result["confusion"].sum() == 4 * 36
    result = train.evaluate(identity, TensorDataset(torch.eye(3)[[0, 1, 2, 2]], torch.tensor([0, 1, 2, 0])))
    assert result == {"accuracy": 0.75}


@pytest.mark.parametrize("option, value", [("optimizer", "rmsprop"), ("lr_schedule", "cosine"), ("loss", "max"),
                                           ("batch_size", 0), ("epochs", 0), ("lr", -1.0),
                                           ("lr", float("inf")), ("lr", float("nan")), ("momentum", -1),
                                           ("momentum", 1.0), ("weight_decay", -1e-4), ("seed", -1),
                                           ("epochs", 2.5), ("steps", 0)])
def test_a_configuration_is_checked_when_made(option, value):
    with pytest.raises(ValueError, match=option):
        TrainConfig(**{"epochs": 1, option: value})
    with pytest.raises(ValueError, match="epochs or as steps"):
        TrainConfig(epochs=1, steps=10)


def test_steps_are_rounded_up_to_whole_epochs():
    assert TrainConfig(steps=100_000, batch_size=1).epochs_for(1000) == 100
    assert TrainConfig(steps=8_000, batch_size=16).epochs_for(16_000) == 8
    assert TrainConfig(steps=1, batch_size=16).epochs_for(10) == 1
    assert TrainConfig(epochs=3).epochs_for(10**6) == 3


def test_two_configurations_name_the_settings_they_differ_in():
    run, seed0 = TrainConfig(epochs=4, precision="auto"), TrainConfig(epochs=4, precision="bfloat16")
    assert run.differences(seed0) == {"precision": ("auto", "bfloat16")}
    assert run.differences(run) == {}


def test_the_poly_schedule_falls_as_1_minus_step_over_steps_to_the_0_9(monkeypatch):
    rates, step = [], torch.optim.SGD.step

    def recording(optimizer, *args, **kwargs):
        rates.append(optimizer.param_groups[0]["lr"])
        return step(optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording)
    config = TrainConfig(epochs=2, batch_size=2, lr=1e-3, optimizer="sgd", lr_schedule="poly")
    train.fit(FCN32s(3, backbone="mini"), tiny_segmentation(6), config, progress=False)
    steps = 2 * 3
    assert rates == pytest.approx([1e-3 * (1 - k / steps) ** 0.9 for k in range(steps)], rel=1e-6)


def test_the_summed_loss_is_the_mean_times_the_labelled_pixels():
    data = tiny_segmentation(2)
    labelled = int((data.tensors[1] != 255).sum())
    losses = {}
    for loss in ("mean", "sum"):
        config = TrainConfig(epochs=1, batch_size=2, lr=1e-12, optimizer="sgd", loss=loss)
        torch.manual_seed(0)
        losses[loss] = train.fit(FCN32s(3, backbone="mini"), data, config, progress=False).history[0]["loss"]
    assert losses["sum"] == pytest.approx(losses["mean"] * labelled, rel=1e-5)


def test_an_empty_training_set_is_refused():
    with pytest.raises(ValueError, match="training set is empty"):
        train.fit(FCN32s(3, backbone="mini"), TensorDataset(torch.zeros(0, 3, 8, 8)), TrainConfig(epochs=1))


def test_pick_device():
    assert train.pick_device("cpu") == torch.device("cpu")
    assert train.pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        train.pick_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="no CUDA GPU: use cpu"):
        train.pick_device("cuda")


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


def test_images_of_different_sizes_are_scored_as_one_at_a_time():
    model = FCN32s(3, backbone="mini").eval()
    torch.nn.init.normal_(model.score_fr.weight)
    val = [(torch.randn(3, 40, 40), torch.randint(0, 3, (40, 40))),
           (torch.randn(3, 40, 40), torch.randint(0, 3, (40, 40))),
           (torch.randn(3, 32, 48), torch.randint(0, 3, (32, 48)))]
    together = train.evaluate(model, val, batch_size=8)
    one_by_one = sum(train.evaluate(model, [item], num_classes=3)["confusion"] for item in val)
    assert torch.equal(together["confusion"], one_by_one)
    history = train.fit(model, tiny_segmentation(4), TrainConfig(epochs=1, batch_size=2), val_data=val,
                        progress=False).history
    assert "val_mean_iu" in history[0]
    with pytest.raises(ValueError, match="no images to score"):
        train.evaluate(model, [])


def test_strip_checkpoint_keeps_the_weights_and_drops_the_optimizer(tmp_path):
    model = FCN32s(3, backbone="mini", learnable_upsampling=False)
    history = train.fit(model, tiny_segmentation(2), TrainConfig(epochs=1, batch_size=2),
                        checkpoint=tmp_path / "m.pt", progress=False).history
    full = (tmp_path / "m.pt").stat().st_size
    checkpoints.strip_checkpoint(tmp_path / "m.pt")
    assert (tmp_path / "m.pt").stat().st_size < full / 2
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert "optimizer" not in state and state["history"] == history
    # learned weights in half precision; the fixed bilinear kernel and the batch-norm statistics exact
    assert state["state_dict"]["score_fr.weight"].dtype == torch.float16
    assert state["state_dict"]["upscore.weight"].dtype == torch.float32
    loaded = checkpoints.load_model(tmp_path / "m.pt")
    for name, value in loaded.state_dict().items():
        assert value.dtype == model.state_dict()[name].dtype, name
        assert torch.allclose(value, model.state_dict()[name], rtol=1e-3, atol=1e-4), name
    assert torch.equal(loaded.upscore.weight, model.upscore.weight)
    assert not list(tmp_path.glob("*.tmp"))
    # finished: the same run loads it; a longer one cannot resume without the optimizer
    again = train.fit(FCN32s(3, backbone="mini"), tiny_segmentation(2), TrainConfig(epochs=1, batch_size=2),
                      checkpoint=tmp_path / "m.pt", progress=False)
    assert again.history == history


def test_a_checkpoint_of_another_run_is_refused_naming_the_change(tmp_path):
    path = tmp_path / "m.pt"
    config = TrainConfig(epochs=1, batch_size=2, lr=1e-3)
    train.fit(FCN32s(3, backbone="mini"), tiny_segmentation(2), config, checkpoint=path, progress=False)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"m.pt was made by another run \(epochs 1 -> 2; lr 0.001 -> 0.003\)"):
        train.fit(FCN32s(3, backbone="mini"), tiny_segmentation(2), TrainConfig(epochs=2, batch_size=2, lr=3e-3),
                  checkpoint=path, progress=False)
    with pytest.raises(ValueError, match="another model"):
        train.fit(FCN16s(3, backbone="mini"), tiny_segmentation(2), config, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match="other starting weights or data"):
        train.fit(FCN32s(3, backbone="mini"), tiny_segmentation(2), config, checkpoint=path,
                  origin={"from": "elsewhere"}, progress=False)
    assert path.read_bytes() == before  # refused: nothing was overwritten


def test_a_train_result_loads_from_its_checkpoint(tmp_path):
    model = FCN8s(3, backbone="mini", at_once=True)
    result = train.fit(model, tiny_segmentation(2), TrainConfig(epochs=1, batch_size=2),
                       checkpoint=tmp_path / "m.pt", progress=False)
    loaded = train.TrainResult.load(tmp_path / "m.pt")
    assert loaded.history == result.history and loaded.fingerprint == result.fingerprint
    assert loaded.model.skip_scales == (0.01, 0.0001) and not loaded.model.training


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
    assert torch.equal(train.predict(model, images, batch_size=1), batch)  # in chunks, the same


def test_mixed_precision_is_chosen_by_what_the_device_computes_natively(monkeypatch):
    cpu = torch.device("cpu")
    assert train.mixed_precision(cpu, "float32") is None
    assert train.mixed_precision(cpu, "bfloat16") is torch.bfloat16
    for native in (False, True):
        for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
            monkeypatch.setattr(torch.cpu, probe, lambda native=native: native, raising=False)
        assert train.mixed_precision(cpu, "auto") is (torch.bfloat16 if native else None)
    # a GPU: bfloat16 only where it is native; a T4 (sm_75) emulates it, so float16 on its tensor cores
    for native in (False, True):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, native=native:
                            native or including_emulation)
        expected = torch.bfloat16 if native else torch.float16
        assert train.mixed_precision(torch.device("cuda"), "auto") is expected


def test_the_bfloat16_path_a_gpu_takes_trains_on_the_cpu_too():
    model = FCN32s(3, backbone="mini")
    seen = []
    model.backbone.block1.conv1_1.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    config = TrainConfig(epochs=4, batch_size=4, lr=3e-3, precision="bfloat16")
    history = train.fit(model, tiny_segmentation(), config, val_data=tiny_segmentation(4), progress=False).history
    assert set(seen) == {torch.bfloat16}  # training and validation ran under autocast
    assert history[-1]["loss"] < history[0]["loss"]
    assert next(model.parameters()).dtype == torch.float32  # the weights stay float32


def test_balanced_weights_are_the_median_share_over_each_share():
    label = torch.zeros(10, 10, dtype=torch.long)  # 60 background, 30 class 1, 10 class 2, 1 ignore...
    label[6:9] = 1
    label[9] = 2
    label[0, 0] = 255
    weights = train.balanced_weights([(None, label)], 4)  # class 3 never occurs
    shares = torch.tensor([59, 30, 10]) / 99
    expected = shares.median() / shares
    torch.testing.assert_close(weights[:3], expected.float())
    assert weights[3] == 0  # never a target, never used
    with pytest.raises(ValueError, match="holds class 5, but there are 4 classes"):
        train.balanced_weights([(None, torch.full((2, 2), 5))], 4)


def test_a_balanced_loss_needs_the_number_of_classes(scenes):
    from fcn_lesson import data as scene_data
    config = TrainConfig(epochs=1, batch_size=2, loss="balanced")
    with pytest.raises(ValueError, match="pass num_classes"):
        train.fit(FCN8s(7, backbone="mini"), scene_data.voc_dataset(scenes, "train"), config, progress=False)


class GoesBadInEpoch2(torch.utils.data.Dataset):
    """Four good scenes in epoch 1; from epoch 2 on, an image of NaNs (as a diverged network makes)."""

    def __init__(self):
        self.scenes, self.read = tiny_segmentation(4), 0

    def __len__(self):
        return 4

    def __getitem__(self, index):
        self.read += 1
        image, label = self.scenes[index]
        return (image if self.read <= 4 else torch.full_like(image, float("nan"))), label


def test_a_diverging_run_stops_with_the_fix_and_keeps_its_last_epoch(tmp_path):
    config = TrainConfig(epochs=2, batch_size=2, lr=1e-3)
    with pytest.raises(ValueError, match=r"loss became nan in epoch 2 .*lower the learning rate"):
        train.fit(FCN32s(3, backbone="mini"), GoesBadInEpoch2(), config, checkpoint=tmp_path / "run.pt",
                  progress=False)
    assert checkpoints.read_checkpoint(tmp_path / "run.pt")["epoch"] == 1


def test_a_checkpoint_with_weights_that_are_not_finite_is_refused(tmp_path):
    model = FCN32s(3, backbone="mini")
    with torch.no_grad():
        model.score_fr.weight[0, 0] = float("nan")
    checkpoints.save_checkpoint(tmp_path / "nan.pt", model, epoch=1, epochs=1, history=[], config={},
                                fingerprint="x")
    with pytest.raises(ValueError, match=r"not finite .*score_fr.weight.*diverged"):
        checkpoints.load_model(tmp_path / "nan.pt")


def test_an_absurd_model_description_is_refused_before_anything_is_allocated(tmp_path):
    model = FCN32s(3, backbone="mini")
    checkpoints.save_checkpoint(tmp_path / "ok.pt", model, epoch=1, epochs=1, history=[], config={},
                                fingerprint="x")
    state = checkpoints.read_checkpoint(tmp_path / "ok.pt")
    state["model"]["layout"]["widths"] = [10**7] * 5  # some 10^15 weights if it were built
    torch.save(state, tmp_path / "absurd.pt")
    with pytest.raises(ValueError, match=r"absurd.pt does not fit its own model description"):
        checkpoints.load_model(tmp_path / "absurd.pt")


def test_a_run_in_other_processes_or_from_stripped_weights_is_another_run(tmp_path):
    model, config = FCN32s(3, backbone="mini"), TrainConfig(epochs=1)
    origin = {"data": "d", "from": "f"}
    one = train.run_fingerprint(model, config, origin)
    assert one == train.run_fingerprint(model, config, origin, processes=1)
    assert one != train.run_fingerprint(model, config, origin, processes=2)
    stripped = {"data": "d", "from": {"fingerprint": "f", "weights": "half precision (stripped for shipping)"}}
    assert one != train.run_fingerprint(model, config, stripped)


def test_progress_bars_only_where_someone_watches(monkeypatch):
    from fcn_lesson import progress

    monkeypatch.setattr(progress.sys, "stderr", type("Log", (), {"isatty": lambda self: False})())
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert not progress.live()  # a notebook executed for the book or the tests, a CI log
    monkeypatch.setenv("JPY_SESSION_NAME", "book/06_fcn32s.ipynb")  # a kernel that JupyterLab started
    assert progress.live() == progress._WIDGETS


def test_epoch_line_keeps_a_decimal_for_rates_under_ten_images_a_second():
    record = {"epoch": 1, "loss": 1.0, "seconds": 26.6, "images_per_s": 8 / 26.6}
    assert train._epoch_line(record, 1).endswith("(26.6 s, 0.3 img/s)")
    assert train._epoch_line({**record, "images_per_s": 123.4}, 1).endswith("123 img/s)")
