"""Plans as data, one loop for all of them; fingerprints that reach every later stage."""
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from fcn_lesson import folders, recipe
from fcn_lesson.models import MINI
from fcn_lesson.plans import Plan, Stage, run_plan, start_model
from fcn_lesson.train import TrainConfig

ONE = TrainConfig(epochs=1, batch_size=4)


def test_a_plan_checks_its_stages_and_knows_what_each_needs():
    plan = recipe.QUICK.plan("ablation")
    assert [s.name for s in plan.up_to("fcn16s")] == ["classifier", "fcn32s", "fcn16s"]
    assert [s.name for s in plan.up_to("fcn8s_scratch")] == ["fcn8s_scratch"]
    assert [s.name for s in plan.up_to("fcn8s_at_once")] == ["classifier", "fcn8s_at_once"]
    with pytest.raises(ValueError, match="no stage 'fcn4s'"):
        plan.stage("fcn4s")
    with pytest.raises(ValueError, match="starts from 'fcn32s', which is neither"):
        Plan("bad", MINI, (Stage("fcn16s", "fcn16s", ONE, start="fcn32s"),))
    with pytest.raises(ValueError, match="unknown model 'fcn4s'"):
        Plan("bad", MINI, (Stage("x", "fcn4s", ONE),))


def test_start_models_come_from_the_stage_they_name(quick_scenes):
    data = recipe.training_data(recipe.QUICK, quick_scenes)
    plan = recipe.QUICK.plan("ablation")
    results = run_plan(plan, data, quick_scenes.parent / "starts", until="fcn32s", progress=False)
    at_once = start_model(plan.stage("fcn8s_at_once"), plan, data, results)
    classifier = results["classifier"].model
    assert at_once.skip_scales == (0.01, 0.0001)
    assert torch.equal(at_once.backbone.block1.conv1_1.weight, classifier.features.block1.conv1_1.weight.cpu())
    sixteen = start_model(plan.stage("fcn16s"), plan, data, results)
    assert torch.equal(sixteen.score_fr.weight, results["fcn32s"].model.score_fr.weight)
    assert sixteen.score_pool4.weight.abs().sum() == 0


def test_one_loop_trains_a_plan_and_loads_it_the_second_time(tmp_path, quick_scenes):
    first = recipe.train(recipe.QUICK, out=tmp_path, root=quick_scenes, progress=False)
    assert list(first) == ["classifier", "fcn32s", "fcn16s", "fcn8s"]
    assert {type(r).__name__ for r in first.values()} == {"TrainResult"}
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["classifier.pt", "fcn16s.pt", "fcn32s.pt", "fcn8s.pt"]
    again = recipe.train(recipe.QUICK, out=tmp_path, root=quick_scenes, progress=False)
    for stage in first:  # nothing retrained: the checkpoints hold every epoch of the same runs
        assert again[stage].history == first[stage].history
        assert again[stage].fingerprint == first[stage].fingerprint


def test_a_changed_recipe_is_refused_in_a_users_folder_and_retrained_in_the_cache(tmp_path, quick_scenes, monkeypatch):
    recipe.train(recipe.QUICK, out=tmp_path / "mine", root=quick_scenes, progress=False)
    longer = replace(recipe.QUICK, classifier=replace(recipe.QUICK.classifier, lr=3e-3))
    with pytest.raises(ValueError, match=r"classifier.pt was made by another run \(lr 0.001 -> 0.003\)"):
        recipe.train(longer, out=tmp_path / "mine", root=quick_scenes, progress=False)

    monkeypatch.setattr(recipe, "cache_dir", lambda r: tmp_path / "cache")
    cached = recipe.train(recipe.QUICK, until="fcn32s", root=quick_scenes, progress=False)
    changed = recipe.train(longer, until="fcn32s", root=quick_scenes, progress=False)
    # the classifier changed, so the FCN-32s made from it is stale too, although its own settings are not
    for stage in ("classifier", "fcn32s"):
        assert changed[stage].fingerprint != cached[stage].fingerprint
        assert not torch.equal(next(changed[stage].model.parameters()), next(cached[stage].model.parameters()))


def test_the_chapters_cache_waits_for_another_training_and_a_users_folder_refuses_it(tmp_path, quick_scenes,
                                                                                     monkeypatch, capsys):
    """Two chapters filling the cache at once take turns; two trainings into one --out folder cannot."""
    monkeypatch.setattr(recipe, "cache_dir", lambda r: tmp_path / "cache")
    cache = folders.claim(tmp_path / "cache", "train")
    code = (f"import time\nfrom fcn_lesson import folders\nwith folders.lock({str(cache)!r}, 'training'):\n"
            "    print('holding', flush=True)\n    time.sleep(3)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        trained = recipe.train(recipe.QUICK, until="classifier", root=quick_scenes, progress=False)
        assert f"waiting for another training in {cache} to finish" in capsys.readouterr().out
        assert holder.wait(timeout=60) == 0 and trained["classifier"].history  # after the holder let go
        mine = folders.claim(tmp_path / "mine", "train")
        with folders.lock(mine, "training"), pytest.raises(ValueError, match="in use by another training"):
            recipe.train(recipe.QUICK, until="classifier", out=mine, root=quick_scenes, progress=False)
    finally:
        holder.kill()
        holder.wait()


def test_only_rank_0_of_a_torchrun_job_claims_and_writes_the_folder(tmp_path, quick_scenes, monkeypatch):
    """Two ranks stamping one new folder at once could each find it filled by the other and refuse it."""
    data = recipe.training_data(recipe.QUICK, quick_scenes)
    plan = Plan("one", MINI, (Stage("classifier", "classifier", ONE),))
    monkeypatch.setenv("RANK", "1")
    run_plan(plan, data, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("RANK", "0")
    run_plan(plan, data, tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".fcn_lesson.json", "classifier.pt"]


@pytest.mark.parametrize("stage, complaint", [
    (Stage("c", "classifier", ONE, learnable_upsampling=True), "learnable_upsampling is for the FCNs"),
    (Stage("d", "dilated", ONE, learnable_upsampling=True), "dilated has no bilinear upsamplers"),
    (Stage("u", "unet", ONE, at_once=True), "unet has none"),
    (Stage("f", "fcn32s", ONE, at_once=True), "fcn32s has none"),
    (Stage("c", "classifier", ONE, start="imagenet"), "not from 'imagenet'"),
])
def test_a_setting_the_stages_model_would_ignore_is_refused(stage, complaint):
    with pytest.raises(ValueError, match=complaint):
        Plan("bad", MINI, (stage,))


def test_a_staged_at_once_fcn_is_at_once(quick_scenes):
    data = recipe.training_data(recipe.QUICK, quick_scenes)
    plan = Plan("p", MINI, (Stage("classifier", "classifier", ONE), Stage("fcn32s", "fcn32s", ONE, "classifier"),
                            Stage("fcn16s", "fcn16s", ONE, start="fcn32s", at_once=True)))
    results = run_plan(plan, data, quick_scenes.parent / "at-once-staged", until="fcn32s", progress=False)
    assert start_model(plan.stage("fcn16s"), plan, data, results).skip_scales == (0.01,)


def test_a_stage_from_a_stripped_parent_is_another_run_than_from_the_full_one(tmp_path, quick_scenes):
    from fcn_lesson.checkpoints import strip_checkpoint

    data = recipe.training_data(recipe.QUICK, quick_scenes)
    plan = Plan("p", MINI, (Stage("classifier", "classifier", ONE), Stage("fcn32s", "fcn32s", ONE, "classifier")))
    full = run_plan(plan, data, tmp_path / "out", progress=False)
    strip_checkpoint(tmp_path / "out" / "classifier.pt")
    kept = run_plan(plan, data, tmp_path / "out", progress=False)  # made from the full weights: still done
    assert kept["fcn32s"].fingerprint == full["fcn32s"].fingerprint
    (tmp_path / "out" / "fcn32s.pt").unlink()
    again = run_plan(plan, data, tmp_path / "out", progress=False)
    assert again["classifier"].fingerprint == full["classifier"].fingerprint and again["classifier"].weights_only
    assert again["fcn32s"].fingerprint != full["fcn32s"].fingerprint


def test_the_cache_trains_anew_over_a_damaged_checkpoint_of_its_own(tmp_path, quick_scenes):
    data = recipe.training_data(recipe.QUICK, quick_scenes)
    plan = Plan("one", MINI, (Stage("classifier", "classifier", ONE),))
    out = tmp_path / "cache"
    first = run_plan(plan, data, out, retrain=True, progress=False)
    (out / "classifier.pt").write_bytes(b"half a file")
    again = run_plan(plan, data, out, retrain=True, progress=False)
    assert again["classifier"].fingerprint == first["classifier"].fingerprint and len(again["classifier"].history) == 1
    with pytest.raises(ValueError, match="not a readable checkpoint"):  # a user's folder: refused, kept
        (out / "classifier.pt").write_bytes(b"half a file")
        run_plan(plan, data, out, progress=False)
    assert (out / "classifier.pt").read_bytes() == b"half a file"


def test_a_finished_stage_elsewhere_is_reused_and_that_folder_left_as_it_was(tmp_path, quick_scenes):
    data = recipe.training_data(recipe.QUICK, quick_scenes)
    plan = Plan("p", MINI, (Stage("classifier", "classifier", ONE), Stage("fcn32s", "fcn32s", ONE, "classifier")))
    shipped = run_plan(plan, data, tmp_path / "shipped", until="classifier", progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "shipped").iterdir()}
    mine = run_plan(plan, data, tmp_path / "mine", reuse=tmp_path / "shipped", progress=False)
    assert mine["classifier"].history == shipped["classifier"].history
    assert sorted(p.name for p in (tmp_path / "mine").glob("*.pt")) == ["fcn32s.pt"]  # trained here, reused there
    assert {p.name: p.read_bytes() for p in (tmp_path / "shipped").iterdir()} == before
    other = Plan("p", MINI, (Stage("classifier", "classifier", replace(ONE, lr=3e-3)),))
    trained = run_plan(other, data, tmp_path / "other", reuse=tmp_path / "shipped", progress=False)
    assert trained["classifier"].fingerprint != shipped["classifier"].fingerprint  # another run: trained anew
    assert (tmp_path / "other" / "classifier.pt").is_file()
