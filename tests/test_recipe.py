import math
from dataclasses import replace

import pytest
import torch

from fcn_lesson import data, recipe
from fcn_lesson import reference_models as shipped


def test_quick_mode_is_on_in_the_tests(monkeypatch):
    assert recipe.quick_mode() and recipe.default_recipe("cpu") is recipe.QUICK
    assert recipe.CPU.fcn8_epochs > recipe.QUICK.fcn8_epochs
    assert recipe.GPU.fcn8_epochs >= recipe.CPU.fcn8_epochs
    assert recipe.RECIPES == {"cpu": recipe.CPU, "gpu": recipe.GPU, "quick": recipe.QUICK}
    monkeypatch.setenv("FCN_LESSON_QUICK", "0")  # read when asked, not when imported
    assert not recipe.quick_mode() and recipe.default_recipe("cpu") is recipe.CPU


def test_object_images_are_drawn_on_first_use():
    objects = data.ObjectImages(4, 32, seed=0, augment=False)
    assert len(objects) == 4 and objects.description == {"objects": 4, "size": 32, "seed": 0}
    image, label = objects[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= int(label) < len(data.CLASSES) - 1


def test_the_plans_of_a_recipe():
    staged = recipe.CPU.plan()
    assert [(s.name, s.start) for s in staged.stages] == [
        ("classifier", "random"), ("fcn32s", "classifier"), ("fcn16s", "fcn32s"), ("fcn8s", "fcn16s")]
    assert staged.stage("fcn8s").config.epochs == recipe.CPU.fcn8_epochs
    assert staged.stage("fcn32s").config.lr_schedule == "poly"
    with pytest.raises(ValueError, match="no plan 'twice'"):
        recipe.CPU.plan("twice")


def test_chapter_9s_plans_change_one_thing_against_fcn8s_in_one_stage():
    ablation, after = recipe.CPU.plan("ablation"), recipe.CPU.plan("after")
    one_stage = ablation.stage("fcn8s_one_stage")
    assert [(s.name, s.model, s.start) for s in after.stages[:3]] == [
        ("classifier", "classifier", "random"), ("dilated", "dilated", "classifier"), ("unet", "unet", "classifier")]
    for suffix in ("", "_seed1", "_seed2"):  # the same pre-trained classifiers, the same training
        assert after.stage(f"classifier{suffix}") == ablation.stage(f"classifier{suffix}")
        for name in recipe.DESCENDANTS if not suffix else recipe.SEEDED_DESCENDANTS:
            assert after.stage(name + suffix).config == ablation.stage(f"fcn8s_one_stage{suffix}").config
    imbalance = recipe.CPU.plan("imbalance")
    plain, balanced = imbalance.stage("rare_fcn8s"), imbalance.stage("rare_fcn8s_balanced")
    assert plain.config == one_stage.config and balanced.config == replace(plain.config, loss="balanced")
    rare = recipe.CPU.imbalanced
    assert rare.rare_class == recipe.RARE_CLASS and rare.dataset == "shapes-rare"
    assert recipe.training_data(recipe.QUICK.imbalanced).description["scenes"]["rare"] == recipe.RARE_CLASS


def test_the_ablation_changes_one_thing_per_row():
    ablation = recipe.CPU.plan("ablation")
    budget = recipe.CPU.fcn.epochs + recipe.CPU.fcn16_epochs + recipe.CPU.fcn8_epochs
    assert recipe.CPU.budget == budget
    assert [s.name for s in ablation.stages[:4]] == ["classifier", "fcn32s", "fcn16s", "fcn8s"]
    base = ablation.stage("fcn8s_one_stage")
    assert base.start == "classifier" and base.config.epochs == budget and not base.at_once
    for name, model in (("fcn32s_one_stage", "fcn32s"), ("fcn16s_one_stage", "fcn16s")):
        assert ablation.stage(name).model == model and ablation.stage(name).config == base.config
    assert ablation.stage("fcn8s_at_once").at_once and ablation.stage("fcn8s_at_once").config == base.config
    assert ablation.stage("fcn8s_learned_up").learnable_upsampling
    assert ablation.stage("fcn8s_learned_up").config == base.config
    scratch = ablation.stage("fcn8s_scratch")
    assert scratch.start == "random" and scratch.config == base.config
    sgd = ablation.stage("fcn8s_at_once_sgd")
    assert sgd.at_once and (sgd.config.optimizer, sgd.config.momentum, sgd.config.loss) == ("sgd", 0.99, "sum")
    assert sgd.config.lr_schedule == "constant" and sgd.config.epochs == budget
    # a summed loss over a batch of 8 scenes of 128 x 128 pixels: the mean loss's rate per pixel
    assert sgd.config.lr == pytest.approx(recipe.CPU.sgd_mean_lr / (8 * 128 * 128))
    for offset in recipe.ABLATION_SEEDS[1:]:
        classifier = ablation.stage(f"classifier_seed{offset}")
        assert classifier.config.seed == recipe.CPU.classifier.seed + offset
        assert f"fcn32s_one_stage_seed{offset}" not in [s.name for s in ablation.stages]
        for model in recipe.SEEDED_MODELS:
            row = ablation.stage(f"{model}_one_stage_seed{offset}")
            assert row.start == classifier.name
            assert row.config == replace(ablation.stage(f"{model}_one_stage").config, seed=classifier.config.seed)


def test_each_recipe_has_its_own_cache_and_scenes():
    assert recipe.cache_dir(recipe.CPU) != recipe.cache_dir(recipe.QUICK)
    assert recipe.cache_dir(recipe.CPU).parent == data.default_root().parent
    assert recipe.QUICK.dataset != recipe.CPU.dataset == recipe.GPU.dataset


def test_the_same_recipe_gives_the_same_classifier(tmp_path, quick_scenes):
    torch.manual_seed(123)  # whatever ran before must not matter
    first = recipe.train(recipe.QUICK, until="classifier", out=tmp_path / "a", root=quick_scenes, progress=False)
    torch.rand(5)
    second = recipe.train(recipe.QUICK, until="classifier", out=tmp_path / "b", root=quick_scenes, progress=False)
    for name, tensor in first["classifier"].model.state_dict().items():
        assert torch.equal(tensor, second["classifier"].model.state_dict()[name]), name


def test_the_shipped_reference_models_are_the_cpu_recipes_own(tmp_path):
    stages = {s.name: s for name in shipped.REFERENCE_PLANS for s in shipped.REFERENCE_RECIPE.plan(name).stages}
    assert sorted(p.stem for p in shipped.REFERENCE_DIR.glob("*.pt")) == sorted(stages)
    assert sum(p.stat().st_size for p in shipped.REFERENCE_DIR.glob("*.pt")) < 25e6
    shipped_bytes = sum(p.stat().st_size for p in shipped.REFERENCE_DIR.iterdir())  # weights and results
    assert shipped_bytes < 25 * 2**20, f"the shipped folder holds {shipped_bytes / 2**20:.1f} MiB"
    for stage in stages.values():
        result = shipped.load_reference(stage.name)
        assert not result.model.training and len(result.history) == stage.config.epochs, stage.name
        assert stage.model == "classifier" or all("val_mean_iu" in h for h in result.history), stage.name
    assert shipped.load_reference("fcn8s_at_once").model.skip_scales == (0.01, 0.0001)
    staged = shipped.load_reference("fcn8s")
    assert staged.model.skip_scales == (1.0, 1.0) and len(staged.history) == recipe.CPU.fcn8_epochs
    with pytest.raises(ValueError, match="no reference model"):
        shipped.load_reference("fcn4s")
    # the documented command finds them all finished: the fingerprints are those of the recipe
    loaded = recipe.train(shipped.REFERENCE_RECIPE, "ablation", out=shipped.REFERENCE_DIR, progress=False)
    assert loaded["fcn8s"].fingerprint == staged.fingerprint
    for plan in ("after", "imbalance"):
        loaded = recipe.train(shipped.REFERENCE_RECIPE, plan, out=shipped.REFERENCE_DIR, progress=False)
        assert all(result.fingerprint == shipped.load_reference(name).fingerprint for name, result in loaded.items())


def test_claims_about_trained_models_are_checked_where_the_recipe_trains():
    recipe.CPU.expect(True, "holds")
    with pytest.raises(AssertionError, match="the classifier knows its shapes"):
        recipe.CPU.expect(False, "the classifier knows its shapes")
    recipe.QUICK.expect(False, "quick mode trains for seconds: nothing to claim")
    assert recipe.CPU.trains and recipe.GPU.trains and not recipe.QUICK.trains


def test_the_seeds_plan_varies_only_the_fcns_seed_from_the_ablations_classifier():
    ablation, after, seeds = (recipe.CPU.plan(name) for name in ("ablation", "after", "seeds"))
    assert seeds.stages[0] == ablation.stage("classifier")
    rows = {**{s.name: s for s in ablation.stages}, "dilated": after.stage("dilated"), "unet": after.stage("unet")}
    for stage in seeds.stages[1:]:
        row, offset = stage.name.rsplit("_fcn_seed", 1)
        seed_zero = rows[row]
        assert stage.start == (seed_zero.start if seed_zero.start in ("classifier", "random") else
                               f"{seed_zero.start}_fcn_seed{offset}"), stage.name
        assert stage.config == replace(seed_zero.config, seed=seed_zero.config.seed + int(offset)), stage.name
        assert (stage.model, stage.at_once, stage.learnable_upsampling) == (
            seed_zero.model, seed_zero.at_once, seed_zero.learnable_upsampling), stage.name
    names = [s.name for s in seeds.stages]
    for offset in recipe.FCN_SEEDS:
        for row in ("fcn32s_one_stage", "fcn16s_one_stage", "fcn8s_one_stage", "fcn32s", "fcn16s", "fcn8s",
                    "dilated", "unet"):
            assert f"{row}_fcn_seed{offset}" in names
    for offset in recipe.CONTROL_SEEDS:
        for row in ("fcn8s_at_once", "fcn8s_at_once_sgd", "fcn8s_learned_up", "fcn8s_scratch"):
            assert f"{row}_fcn_seed{offset}" in names
    assert len(names) == 1 + 8 * len(recipe.FCN_SEEDS) + 4 * len(recipe.CONTROL_SEEDS)


def test_the_rare_seeds_plan_varies_only_the_imbalance_rows_fcn_seed():
    imbalance, rare_seeds = recipe.CPU.plan("imbalance"), recipe.CPU.plan("rare_seeds")
    assert rare_seeds.data == imbalance.data == recipe.CPU.imbalanced
    assert rare_seeds.stages[0] == imbalance.stage("rare_classifier")
    for stage in rare_seeds.stages[1:]:
        row, offset = stage.name.rsplit("_fcn_seed", 1)
        seed_zero = imbalance.stage(row)
        assert int(offset) in recipe.CONTROL_SEEDS and stage.start == "rare_classifier"
        assert stage.config == replace(seed_zero.config, seed=seed_zero.config.seed + int(offset)), stage.name
    assert len(rare_seeds.stages) == 1 + 2 * len(recipe.CONTROL_SEEDS)


@pytest.mark.parametrize("suffix, epochs", [("_longer", 30), ("_longest", 45), ("_furthest", 70),
                                            ("_beyond", 105)])
def test_the_longer_plans_train_each_row_of_seed_0_half_as_long_again_and_again(suffix, epochs):
    name, times = suffix.removeprefix("_"), recipe.LONGER_SUFFIXES[suffix]
    assert times == {"_longer": recipe.LONGER, "_longest": recipe.LONGER ** 2, "_furthest": recipe.FURTHEST,
                     "_beyond": recipe.FURTHEST * recipe.LONGER}[suffix]
    ablation, after, longer = (recipe.CPU.plan(plan) for plan in ("ablation", "after", name))
    rows = {**{s.name: s for s in ablation.stages}, **{s.name: s for s in after.stages}}
    assert longer.stages[0] == ablation.stage("classifier")
    for stage in longer.stages[1:]:
        seed_zero = rows[stage.name.removesuffix(suffix)]
        assert stage.config == replace(seed_zero.config, epochs=math.ceil(times * seed_zero.config.epochs))
        assert stage.start == (seed_zero.start if seed_zero.start in ("classifier", "random") else
                               f"{seed_zero.start}{suffix}"), stage.name
        assert (stage.model, stage.at_once, stage.learnable_upsampling) == (
            seed_zero.model, seed_zero.at_once, seed_zero.learnable_upsampling), stage.name
    assert longer.stage(f"fcn8s_one_stage{suffix}").config.epochs == epochs == times * recipe.CPU.budget
    staged = sum(longer.stage(f"{model}{suffix}").config.epochs for model in ("fcn32s", "fcn16s", "fcn8s"))
    assert staged == epochs  # the staged path trains exactly as long as the one-stage rows
    factors = list(recipe.LONGER_SUFFIXES.values())
    assert all(later >= recipe.LONGER * earlier for earlier, later in zip([1, *factors], factors))
    assert len(longer.stages) == 1 + 3 + 1 + 3 + 1 + 4
    imbalance, rare_longer = recipe.CPU.plan("imbalance"), recipe.CPU.plan(f"rare{suffix}")
    assert rare_longer.data == imbalance.data and rare_longer.stages[0] == imbalance.stages[0]
    for stage in rare_longer.stages[1:]:
        seed_zero = imbalance.stage(stage.name.removesuffix(suffix))
        assert stage.config == replace(seed_zero.config, epochs=epochs) and stage.start == seed_zero.start
    assert len(rare_longer.stages) == len(imbalance.stages)
