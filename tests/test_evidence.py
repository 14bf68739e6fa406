"""The shipped results: equal to what the shipped weights score now, made by the shipped runs, and
every verdict the chapters state the same on the fresh scenes as on the book's."""
import json

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from fcn_lesson import data, evidence, metrics, scales, stats
from fcn_lesson.cli import main
from fcn_lesson.recipe import scene_datasets
from fcn_lesson.reference_models import REFERENCE_DIR, REFERENCE_RECIPE, load_reference
from fcn_lesson.train import TrainResult, predict

SAMPLE = range(0, 300, 75)  # four of the book's validation scenes, and as many fresh ones


def _stored(stage, scenes, field):
    return evidence.load()[1][f"{stage}/{scenes}/{field}"]


def _stages():
    return [stage for arm in evidence.ARMS.values() for stage in arm.stages.values()]


def test_stored_counts_equal_what_the_shipped_weights_score_now(tmp_path):
    """Stored numbers cannot drift from the weights. (The fresh scenes are made one by one from one
    seed, so the first ones of a smaller set made the same way are the stored set's first ones.)"""
    fresh = data.voc_dataset(data.make_dataset(tmp_path, train=1, val=max(SAMPLE) + 1,
                                               size=REFERENCE_RECIPE.scene_size, seed=evidence.FRESH_SEED),
                             "val")
    sets = {"val": Subset(evidence.scene_set("val"), SAMPLE), "fresh": Subset(fresh, SAMPLE)}
    models = {stage: load_reference(stage).model for stage in _stages()}
    for scenes, dataset in sets.items():
        counted = evidence.count_scenes(models, dataset, len(data.CLASSES))
        for stage, fields in counted.items():
            for field, counts in fields.items():
                assert torch.equal(counts, _stored(stage, scenes, field)[list(SAMPLE)]), (stage, scenes, field)


def test_stored_results_were_made_by_the_shipped_runs():
    meta, counts = evidence.load()
    for stage in _stages():
        shipped = TrainResult.load(REFERENCE_DIR / f"{stage}.pt")
        assert meta["models"][stage]["fingerprint"] == shipped.fingerprint, stage
        assert meta["models"][stage]["history"] == shipped.history, stage
        assert len(counts[f"{stage}/val/confusion"]) == REFERENCE_RECIPE.val_scenes
        assert len(counts[f"{stage}/fresh/confusion"]) == evidence.FRESH_SCENES


def test_every_verdict_the_chapters_state_holds_on_the_fresh_scenes():
    """Settled claims agree on both scene sets; those the chapters call undecided do not."""
    for claim in evidence.COMPARISONS.values():
        on_val, on_fresh = evidence.compare(claim, "val"), evidence.compare(claim, "fresh")
        assert (on_val.ahead == on_fresh.ahead) == claim.settled, f"{on_val}; fresh: {on_fresh}"


def test_the_statistics_equal_the_module_s_scores():
    """The bootstrap's scores of summed counts are metrics.scores, scales.binned_scores and the boundary
    accuracy of train.evaluate, computed here from one model's predictions."""
    scenes = Subset(evidence.scene_set("val"), range(20))
    images, labels = map(torch.stack, zip(*scenes))
    model = load_reference("fcn8s_one_stage").model.float()
    predicted = predict(model, images)
    counted = evidence.count_scenes({"m": model}, scenes, len(data.CLASSES))["m"]
    confusion = metrics.confusion_matrix(predicted, labels, len(data.CLASSES))
    expected = metrics.scores(confusion)

    def statistic(name):
        field, score = evidence.STATISTICS[name]
        return score(counted[field].sum(0).double()[None])[0].item()

    assert statistic("mean IU") == pytest.approx(expected["mean_iu"])
    assert statistic("pixel accuracy") == pytest.approx(expected["pixel_accuracy"])
    assert statistic("IU ring") == pytest.approx(expected["class_iu"][data.CLASSES.index("ring")])
    band = metrics.boundary_mask(labels, 3)
    assert statistic("boundary accuracy 3 px") == pytest.approx((predicted == labels)[band].float().mean().item())
    rows = scales.by_thickness({"m": predicted}, labels, len(data.CLASSES))["m"]
    assert statistic(f"IU thickness {rows[0]['bin']} px") == pytest.approx(rows[0]["iu"])


def test_arms_and_claims_name_what_exists():
    trained = {s.name for plan in ("ablation", "after", "imbalance") for s in REFERENCE_RECIPE.plan(plan).stages}
    assert all(set(arm.stages.values()) <= trained and 0 in arm.stages for arm in evidence.ARMS.values())
    for claim in evidence.COMPARISONS.values():
        assert {claim.a, claim.b} <= set(evidence.ARMS)
        assert {claim.statistic, claim.b_statistic or claim.statistic} <= set(evidence.STATISTICS)
    with pytest.raises(ValueError, match="no arm 'FCN-4s'"):
        evidence.estimate("FCN-4s")
    with pytest.raises(ValueError, match="no statistic 'mean IoU'"):
        evidence.estimate("FCN-8s", "mean IoU")
    with pytest.raises(ValueError, match="no scene set 'test'"):
        evidence.scene_set("test")


def test_results_prints_the_grid_with_the_chapters_numbers(capsys):
    assert main(["results", "--plan", "after"]) == 0
    printed = capsys.readouterr().out
    assert str(evidence.estimate("dilated")) in printed
    assert str(evidence.compare(evidence.COMPARISONS["dilated vs FCN-8s, mean IU"])) in printed
    assert "FCN-32s:" not in printed
    assert main(["results"]) == 0
    printed = capsys.readouterr().out
    assert all(str(evidence.estimate(arm)) in printed for arm in evidence.ARMS)
    assert printed.count("undecided") == sum(not claim.settled for claim in evidence.COMPARISONS.values()) > 0


def test_recording_writes_only_into_a_training_folder_and_reads_back(tmp_path, capsys, monkeypatch):
    assert main(["results", "--record", str(tmp_path)]) == 2
    assert f"{tmp_path} was not made by train" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    folder = tmp_path / "trained"
    folder.mkdir()
    (folder / ".fcn_lesson.json").write_text(json.dumps({"made_by": "train"}))
    (folder / "fcn8s_one_stage.pt").write_bytes((REFERENCE_DIR / "fcn8s_one_stage.pt").read_bytes())
    monkeypatch.setattr(evidence, "SCENE_SETS", ("val",))
    monkeypatch.setattr(evidence, "scene_set", lambda name: Subset(scene_datasets(REFERENCE_RECIPE)[1], range(3)))
    written = evidence.record(folder, ["fcn8s_one_stage"], progress=False)
    meta, counts = evidence.load(folder)
    assert written == folder / evidence.RESULTS_FILE and meta["models"]["fcn8s_one_stage"]["history"]
    assert torch.equal(counts["fcn8s_one_stage/val/confusion"], _stored("fcn8s_one_stage", "val", "confusion")[:3])


def test_a_missing_or_damaged_results_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="results --record"):
        evidence.load(tmp_path)
    (tmp_path / evidence.RESULTS_FILE).write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="is not a results file"):
        evidence.load(tmp_path)
    np.savez(tmp_path / "other.npz", meta=np.array(json.dumps({"format": 0})))
    (tmp_path / "other.npz").replace(tmp_path / evidence.RESULTS_FILE)
    evidence.load.cache_clear()
    with pytest.raises(ValueError, match="another format"):
        evidence.load(tmp_path)


def test_verdicts_are_stats_verdicts_for_one_chapter():
    found = evidence.verdicts(9)
    assert found and all(isinstance(v, stats.Verdict) for v in found.values())
    assert set(found) == {key for key, claim in evidence.COMPARISONS.items() if claim.chapter == 9}
