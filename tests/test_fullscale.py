import pytest
import torch

from fcn_lesson import checkpoints, data, descendants, fullscale
from fcn_lesson.models import FCN8s
from fcn_lesson.checkpoints import load_checkpoint
from fcn_lesson.train import TrainConfig

from fakes import make_fake_sbd, make_fake_voc


def test_the_paper_recipe_is_the_papers():
    paper = fullscale.PAPER.fcn32s
    assert (paper.batch_size, paper.loss, paper.optimizer, paper.momentum) == (1, "sum", "sgd", 0.99)
    assert [config.lr for config in fullscale.PAPER.configs] == [1e-10, 1e-12, 1e-14]
    assert fullscale.PAPER.patch_size is None and paper.precision == "float32"
    modern = fullscale.MODERN
    assert modern.fcn32s.loss == "mean" and modern.patch_size and modern.fcn32s.precision == "auto"
    assert {config.precision for config in modern.with_precision("float32").configs} == {"float32"}
    assert set(fullscale.RECIPES) == {"paper", "modern"}


def test_settings_say_each_value_once_or_per_stage():
    settings = fullscale.PAPER.settings()
    assert settings["lr"] == (1e-10, 1e-12, 1e-14) and settings["steps"] == 100_000
    assert settings["patch_size"] is None and "epochs" not in settings
    assert fullscale.MODERN.settings()["steps"] == (8_000, 4_000, 4_000)
    assert settings["poly_power"] == "n/a" and settings["momentum"] == 0.99  # a constant rate, SGD
    assert fullscale.MODERN.settings()["momentum"] == "n/a"  # Adam has none


def test_chapter_8_times_small_images_where_nothing_trains():
    assert fullscale.timed_images()[-1] == (375, 500) and fullscale.timed_images(False)[-1] == (96, 128)


def test_a_recipe_is_a_staged_plan():
    plan = fullscale.PAPER.plan()
    assert [(s.name, s.start) for s in plan.stages] == [("fcn32s", "imagenet"), ("fcn16s", "fcn32s"),
                                                          ("fcn8s", "fcn16s")]
    assert [s.config.lr for s in plan.stages] == [1e-10, 1e-12, 1e-14]
    assert {(s.config.steps, s.config.loss, s.config.momentum) for s in plan.stages} == {(100_000, "sum", 0.99)}
    smoke = fullscale.MODERN.plan(backbone="mini", pretrained=False, steps=2)
    assert smoke.stages[0].start == "random" and {s.config.steps for s in smoke.stages} == {2}
    with pytest.raises(ValueError, match="backbone='vgg16' only"):
        fullscale.PAPER.plan(backbone="mini")


def test_voc_sets_read_voc_and_add_sbd_once(tmp_path):
    voc = make_fake_voc(tmp_path / "voc")
    sbd = make_fake_sbd(tmp_path / "sbd", names=("2008_000001", "2008_000002", "2008_000003"), split="train_noval")
    train, val = fullscale.voc_sets(voc)
    assert (len(train), len(val)) == (2, 1)
    assert train.num_classes == 21  # a real VOC root: 21 classes, not the scenes' 7
    train, val = fullscale.voc_sets(voc, sbd_root=sbd)
    assert len(train) == 2 + 2  # 2008_000001 is in VOC train already: taken once
    image, label = train[3]
    assert image.shape == (3, 20, 30) and label.max() < 21
    train, _ = fullscale.voc_sets(voc, sbd_root=sbd, patch_size=32)
    assert {tuple(train[i][0].shape) for i in range(len(train))} == {(3, 32, 32)}
    train, val = fullscale.voc_sets(voc, sbd_root=sbd, limit=1)
    assert (len(train), len(val)) == (1, 1)


def test_voc_sets_fail_clearly_without_data_or_network(tmp_path, offline):
    with pytest.raises(FileNotFoundError, match="VOCdevkit/VOC2012"):
        fullscale.voc_sets(tmp_path / "nowhere")
    with pytest.raises(ConnectionError, match="could not download PASCAL VOC 2012"):
        fullscale.voc_sets(tmp_path / "voc", download=True)


def test_train_voc_runs_the_three_stages_and_resumes(tmp_path):
    voc = make_fake_voc(tmp_path / "voc")
    sbd = make_fake_sbd(tmp_path / "sbd", split="train_noval")
    results = fullscale.train_voc(fullscale.PAPER, tmp_path / "out", voc, sbd_root=sbd, backbone="mini",
                                  pretrained=False, steps=1, num_workers=0, progress=False)
    assert list(results) == ["fcn32s", "fcn16s", "fcn8s"]
    assert all(len(r.history) == 1 and "val_mean_iu" in r.history[0] for r in results.values())
    model = FCN8s(21, backbone="mini")
    state = load_checkpoint(tmp_path / "out" / "fcn8s.pt", model)
    assert state["epoch"] == 1
    assert all(torch.equal(v, results["fcn8s"].model.state_dict()[k]) for k, v in model.state_dict().items())
    again = fullscale.train_voc(fullscale.PAPER, tmp_path / "out", voc, sbd_root=sbd, backbone="mini",
                                pretrained=False, steps=1, num_workers=0, progress=False)
    assert again["fcn8s"].history == results["fcn8s"].history  # loaded, not trained again


def test_the_modern_recipe_batches_patches(tmp_path):
    voc = make_fake_voc(tmp_path / "voc")  # two training images of 40 x 56
    config = TrainConfig(steps=1, batch_size=2, optimizer="adam", lr=1e-3, lr_schedule="poly",
                                   precision="bfloat16")
    modern = fullscale.VOCRecipe("tiny-modern", config, finer_lrs=(1e-3, 1e-3), finer_steps=(1, 1), patch_size=48)
    results = fullscale.train_voc(modern, tmp_path / "out", voc, backbone="mini", pretrained=False,
                                  num_workers=0, progress=False)
    assert [len(results[stage].history) for stage in ("fcn32s", "fcn16s", "fcn8s")] == [1, 1, 1]  # one batch
    saved = checkpoints.read_checkpoint(tmp_path / "out" / "fcn8s.pt")["config"]
    assert (saved["batch_size"], saved["precision"]) == (2, "bfloat16")
    image, label = data.voc_dataset(voc, "train", patch_size=48)[0]  # padded up to 48 x 48, the label with 255
    assert image.shape == (3, 48, 48) and (label == 255).any()


def test_imagenet_weights_only_for_vgg16(tmp_path):
    with pytest.raises(ValueError, match="backbone='vgg16' only"):
        fullscale.train_voc(fullscale.PAPER, tmp_path, make_fake_voc(tmp_path / "voc"), backbone="mini")


def test_pretrained_training_offline_says_how_to_get_the_weights(tmp_path, offline):
    with pytest.raises(ConnectionError, match="VGG16's ImageNet weights"):
        fullscale.train_voc(fullscale.PAPER, tmp_path / "out", make_fake_voc(tmp_path / "voc"), steps=1)


def test_the_scenes_are_a_voc_root_too(scenes):
    train, val = fullscale.voc_sets(scenes, limit=3)
    assert len(train) == 3 and train.dataset.num_classes == len(data.CLASSES)


def test_training_hours_are_an_estimate_until_a_gpu_measured_them(tmp_path, monkeypatch):
    monkeypatch.setattr(fullscale, "GPU_TIMINGS", tmp_path / "gpu_timings.json")
    flops = fullscale.iteration_flops(fullscale.PAPER)
    assert flops == 3 * descendants.count_flops(FCN8s(21, backbone="vgg16"), 375, 500)
    hours, what = fullscale.training_hours(fullscale.PAPER)
    assert hours == pytest.approx(300_000 * flops / 8.1e12 / 3600)
    assert what.startswith("an estimate, not a measurement") and "lower bound" in what
    assert fullscale.training_hours(fullscale.MODERN)[1].startswith("an estimate")
    (tmp_path / "gpu_timings.json").write_text('{"device": "NVIDIA H200", "torch": "2", "date": "2026-12-01", '
                                               '"seconds_per_iteration": {"paper": 0.05, "modern": 0.4}}')
    assert fullscale.training_hours(fullscale.PAPER) == (pytest.approx(300_000 * 0.05 / 3600),
                                                         "measured on NVIDIA H200 (2026-12-01)")


def test_checkpoints_go_to_google_drive_when_it_is_mounted(tmp_path, monkeypatch):
    monkeypatch.setattr(fullscale, "DRIVE", tmp_path / "MyDrive")
    assert fullscale.checkpoint_folder() == fullscale.Path("checkpoints-voc")
    (tmp_path / "MyDrive").mkdir()
    assert fullscale.checkpoint_folder() == tmp_path / "MyDrive" / "fcn_lesson" / "checkpoints-voc"


def test_training_hours_count_the_steps_training_makes_rounded_up_to_whole_epochs():
    assert fullscale.optimizer_steps(fullscale.PAPER) == 300_000
    assert fullscale.optimizer_steps(fullscale.PAPER, 8_498) == 3 * 12 * 8_498  # 101,976 a stage
    assert fullscale.optimizer_steps(fullscale.MODERN) == 16_000
    assert fullscale.optimizer_steps(fullscale.MODERN, 8_498) == 16 * 532 + 2 * 8 * 532
    assert fullscale.optimizer_steps(fullscale.PAPER, 100_000) == 300_000  # one whole epoch a stage
    nominal, rounded = (fullscale.training_hours(fullscale.PAPER, images)[0] for images in (None, 8_498))
    assert rounded / nominal == pytest.approx(305_928 / 300_000)


def test_optimizer_steps_under_torchrun_give_each_process_its_share_of_every_epoch():
    # fit counts epochs from the whole set, steps from DistributedSampler's share: ceil(n / processes)
    assert fullscale.optimizer_steps(fullscale.PAPER, 8_498, processes=1) == 3 * 12 * 8_498
    assert fullscale.optimizer_steps(fullscale.PAPER, 8_498, processes=8) == 3 * 12 * 1_063
    assert fullscale.optimizer_steps(fullscale.MODERN, 8_498, processes=8) == 16 * 67 + 2 * 8 * 67


def test_time_iterations_times_forward_backward_and_the_step_apart_after_a_warm_up():
    model = torch.nn.Conv2d(3, 4, 3, padding=1)
    calls = []
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.register_step_post_hook(lambda *_: calls.append(1))
    times = fullscale.time_iterations(model, optimizer, 8, 10, repeats=2, num_classes=4)
    assert len(times) == 2 and len(calls) == 3  # the first iteration is not kept
    assert all(len(t) == 2 and min(t) >= 0 for t in times)


def test_stage_steps_round_each_stage_up_to_whole_epochs_and_sum_to_optimizer_steps():
    assert fullscale.stage_steps(fullscale.PAPER, 8, steps=1) == {"fcn32s": 8, "fcn16s": 8, "fcn8s": 8}
    assert fullscale.stage_steps(fullscale.MODERN, 8, steps=1) == {"fcn32s": 1, "fcn16s": 1, "fcn8s": 1}
    for recipe in (fullscale.PAPER, fullscale.MODERN):
        for processes in (1, 8):
            steps = fullscale.stage_steps(recipe, 8498, processes=processes)
            assert sum(steps.values()) == fullscale.optimizer_steps(recipe, 8498, processes=processes)


def test_missing_data_report_puts_the_manual_route_on_its_own_unbroken_line():
    error = ConnectionError("could not download SBD. Tried: http://a: no answer; http://b: no answer. "
                            "By hand: get benchmark.tgz (MD5 82b4d87ceb2ed10f6038a1cba92111cb) wherever "
                            "you can, and put it in data/sbd")
    said = fullscale.missing_data_report(error, hint=False)
    assert "\nBy hand: get benchmark.tgz (MD5 82b4d87ceb2ed10f6038a1cba92111cb)" in said
    assert max(len(line) for line in said.splitlines()) <= 80


def test_missing_data_report_shows_paths_from_the_root_and_says_the_counts_are_not_counted(tmp_path):
    error = FileNotFoundError(f"no SBD under {tmp_path / 'data' / 'sbd'}")
    said = fullscale.missing_data_report(error, relative_to=tmp_path, hint=False)
    assert "no SBD under data/sbd" in said and str(tmp_path) not in said
    assert "8,498 training and 736 validation" in said and "download" not in said
    assert "to fetch it" in fullscale.missing_data_report(error)


def test_describe_runs_gives_steps_seconds_per_image_and_the_score():
    from fcn_lesson.train import TrainResult
    history = [{"epoch": 1, "loss": 1.0, "seconds": 26.6, "images_per_s": 8 / 26.6, "val_mean_iu": 0.138}]
    runs = {"paper": {"fcn32s": TrainResult(torch.nn.Identity(), history)}}
    said = fullscale.describe_runs(runs, {"paper": {"fcn32s": 8}})
    assert said == ("paper recipe, fcn32s: 1 epoch(s), 8 step(s), 26.6 s (3.33 s per image), "
                    "validation mean IU 0.138")


def test_summed_loss_is_ln_c_times_the_labelled_pixels_for_equal_logits():
    import math

    class Zero(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return torch.zeros(x.shape[0], 5, *x.shape[2:]) * self.w

    label = torch.zeros(4, 6, dtype=torch.long)
    label[0, :3] = 255  # 21 labelled pixels
    pairs = [(torch.randn(3, 4, 6), label), (torch.randn(3, 4, 6), torch.ones(4, 6, dtype=torch.long))]
    assert fullscale.summed_loss(Zero(), pairs) == pytest.approx(math.log(5) * (21 + 24) / 2)


def test_wrap_command_never_splits_an_option_from_its_value():
    command = "torchrun -m fcn_lesson train --data voc --root ../data/shapes --random-init --out /tmp/x"
    wrapped = fullscale.wrap_command(command, width=40)
    lines = wrapped.splitlines()
    assert all(line.endswith(" \\") for line in lines[:-1]) and len(lines) > 1
    assert all(len(line) <= 40 for line in lines)
    assert " ".join(line.rstrip(" \\").strip() for line in lines) == command
    for option in ("--data voc", "--root ../data/shapes", "--out /tmp/x", "-m fcn_lesson"):
        assert any(option in line for line in lines)


def test_iteration_flops_of_the_coarser_stages_are_within_a_percent_of_fcn8s():
    paper = fullscale.iteration_flops(fullscale.PAPER)
    assert fullscale.iteration_flops(fullscale.PAPER, "fcn8s") == paper
    for model in ("fcn32s", "fcn16s"):
        assert fullscale.iteration_flops(fullscale.PAPER, model) == pytest.approx(paper, rel=1e-2)
    with pytest.raises(ValueError, match="no FCN"):
        fullscale.iteration_flops(fullscale.PAPER, "fcn4s")
