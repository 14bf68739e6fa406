"""The registry of the shipped models: which classifier each starts from."""
import pytest

from fcn_lesson.reference_models import (REFERENCE_DIR, REFERENCE_PLANS, REFERENCE_RECIPE, planned_stages,
                                          pre_trained_by, reference_stages, start_weights)


def test_pre_trained_by_follows_each_start_back_to_a_classifier():
    stages = reference_stages()
    assert all((REFERENCE_DIR / f"{name}.pt").exists() for name in stages)
    groups = pre_trained_by()
    assert groups["random"] == ["fcn8s_scratch"]
    for origin, models in groups.items():
        assert origin == "random" or stages[origin].model == "classifier"
        for name in models:
            assert stages[name].model != "classifier"
    shipped = sorted(name for models in groups.values() for name in models)
    assert shipped == sorted(name for name, stage in stages.items() if stage.model != "classifier")
    # fcn16s continues fcn32s, which starts from seed 0's classifier: grouped under the classifier
    assert stages["fcn16s"].start == "fcn32s" and "fcn16s" in groups["classifier"]


def test_planned_stages_are_the_plans_stages_built_once_and_read_only():
    seeds = planned_stages("seeds")
    assert list(seeds) == [stage.name for stage in REFERENCE_RECIPE.plan("seeds").stages]
    assert planned_stages("seeds") is seeds
    with pytest.raises(TypeError):
        seeds["extra"] = seeds["fcn8s_one_stage_fcn_seed1"]
    assert set(reference_stages()) == set().union(*(planned_stages(plan) for plan in REFERENCE_PLANS))


def test_start_weights_reads_what_each_checkpoint_records():
    starts = {name: start_weights(name) for name in reference_stages()}
    assert starts["classifier"] == starts["fcn8s_scratch"] == "random"
    assert starts["fcn8s_one_stage"] == starts["fcn16s"] == "full precision"  # the parent as it trained
    assert starts["dilated"] == starts["unet"] == "half precision"  # the parent as shipped
    assert set(starts.values()) == {"random", "full precision", "half precision"}
    with pytest.raises(ValueError, match="no reference model 'fcn4s'"):
        start_weights("fcn4s")
