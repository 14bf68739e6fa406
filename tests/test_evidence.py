"""The shipped results: equal to what the shipped weights score now, made by the shipped runs, and
every verdict the chapters state the same on the fresh scenes as on the book's."""
import json
import math
import statistics
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from fcn_lesson import data, evidence, metrics, scales, stats
from fcn_lesson.cli import main
from fcn_lesson.recipe import scene_datasets
from fcn_lesson.reference_models import REFERENCE_DIR, REFERENCE_RECIPE, load_reference, planned_stages
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
        field, _ = evidence.STATISTICS[name]
        return evidence.score(name)(counted[field].sum(0).double()[None])[0].item()

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
    with pytest.raises(ValueError, match="no statistic 'IU circle'"):
        evidence.score("IU circle")
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
    with zipfile.ZipFile(written) as archive:  # LZMA, which numpy.load reads like its own deflate
        assert {entry.compress_type for entry in archive.infolist()} == {zipfile.ZIP_LZMA}
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


def test_verdicts_over_fcn_seeds_pair_the_seeds_both_arms_recorded_from_one_classifier():
    found = evidence.verdicts(7, arms=evidence.FCN_SEED_ARMS)
    step = found["FCN-16s vs FCN-32s, mean IU"]
    recorded = [set(evidence.recorded_stages(arm, evidence.FCN_SEED_ARMS)) for arm in ("FCN-16s", "FCN-32s")]
    assert step.seeds == len(recorded[0] & recorded[1]) > evidence.verdicts(
        7, arms=evidence.ARMS)["FCN-16s vs FCN-32s, mean IU"].seeds
    rare = evidence.verdicts(9, arms=evidence.FCN_SEED_ARMS)["plain loss, rare disc vs balanced loss, rare disc, mean IU"]
    assert rare.seeds == len(evidence.recorded_stages("plain loss, rare disc", evidence.FCN_SEED_ARMS))


def test_per_seed_and_paired_gaps_are_the_values_a_verdict_pairs():
    eight, sixteen = evidence.per_seed("FCN-8s"), evidence.per_seed("FCN-16s", "fresh")
    assert list(eight) == list(evidence.recorded_stages("FCN-8s"))
    assert eight[0] == evidence.scores(evidence.FCN_SEED_ARMS["FCN-8s"].stages[0])["mean_iu"]
    assert sixteen[0] == evidence.scores(evidence.FCN_SEED_ARMS["FCN-16s"].stages[0], "fresh")["mean_iu"]
    gaps = evidence.paired_gaps("FCN-8s", "at once")  # a control: fewer seeds than FCN-8s
    assert set(gaps) == set(evidence.per_seed("at once")) < set(eight)
    verdict = evidence.compare(evidence.COMPARISONS["FCN-8s vs at once, mean IU"])
    assert abs(sum(gaps.values()) / len(gaps) - verdict.difference) < 1e-9


@pytest.fixture(scope="module")
def reports():
    """The levelling report and the whole one, printed once for the module's tests (seconds each)."""
    return evidence.report("longer"), evidence.report()


def test_the_chapters_verdicts_pair_the_fcn_seeds_of_one_classifier(reports):
    """Every verdict a chapter draws holds the classifier fixed; `results` prints each one, and each row
    over its classifier seeds beside."""
    chapters = {claim.chapter for claim in evidence.COMPARISONS.values()}
    drawn = {key: verdict for chapter in chapters for key, verdict in evidence.verdicts(chapter).items()}
    for key, claim in evidence.COMPARISONS.items():
        assert str(drawn[key]) == str(evidence.compare(claim, arms=evidence.FCN_SEED_ARMS))
    printed = reports[1]
    assert all(str(verdict) in printed for verdict in evidence.verdicts(7).values())
    assert f"over classifier seeds: {evidence.estimate('FCN-8s', arms=evidence.ARMS)}" in printed
    assert "over classifier seeds: FCN-32s" not in printed  # one classifier seed


def _unshipped_rows():
    """The recorded stages of the seeds, rare_seeds and longer plans (longest, furthest, beyond): their weights do
    not ship, their counts do."""
    recorded = evidence.load()[0]["models"]
    seeds = [stage for arm in evidence.FCN_SEED_ARMS.values() for seed, stage in arm.stages.items() if seed]
    longer = [arm.stages[0] for arms in (evidence.LONGER_ARMS, evidence.LONGEST_ARMS, evidence.FURTHEST_ARMS,
                                         evidence.BEYOND_ARMS) for arm in arms.values()]
    return [stage for stage in seeds + longer if stage in recorded]


def test_the_seeds_plans_counts_are_those_of_the_runs_that_made_them():
    """Without weights to re-score, each row's stored counts must give the mean IU its run measured on
    the same scenes while it trained (in bfloat16, before its weights were rounded to half: within
    0.002; another model would differ by far more). A run on the rare-disc scenes measured itself on
    their validation scenes: the mean IU recorded there with its counts must match instead."""
    meta, counts = evidence.load()
    planned = {s.name: s for plan in ("seeds", "rare_seeds", "longer", "rare_longer", "longest", "rare_longest",
                                      "furthest", "rare_furthest", "beyond", "rare_beyond") for s in REFERENCE_RECIPE.plan(plan).stages}
    for stage in _unshipped_rows():
        history = meta["models"][stage]["history"]
        assert len(history) == planned[stage].config.epochs and meta["models"][stage]["fingerprint"], stage
        assert len(counts[f"{stage}/fresh/confusion"]) == evidence.FRESH_SCENES
        own = meta["models"][stage].get(evidence.OWN_SCENES, evidence.scores(stage)["mean_iu"])
        assert own == pytest.approx(history[-1]["val_mean_iu"], abs=0.002), stage
    assert all(evidence.OWN_SCENES in meta["models"][stage] for stage in evidence.recorded_stages(
        "plain loss, rare disc").values())


def test_the_arms_over_fcn_seeds_start_from_the_chapters_seed_0_and_count_what_is_recorded():
    for name, arm in evidence.FCN_SEED_ARMS.items():
        assert arm.stages[0] == evidence.ARMS[name].stages[0]
        assert arm.plan == ("rare_seeds" if evidence.ARMS[name].plan == "imbalance" else "seeds")
        planned = {s.name for s in REFERENCE_RECIPE.plan(arm.plan).stages}
        assert all(stage in planned for seed, stage in arm.stages.items() if seed), name
        recorded = [stage for stage in arm.stages.values() if stage in evidence.load()[0]["models"]]
        shown = str(evidence.estimate(name, arms=evidence.FCN_SEED_ARMS))
        assert f"({len(recorded)} seeds" in shown if len(recorded) > 1 else "(one seed" in shown, name


@pytest.mark.parametrize("options, complaint", [
    (["--seeds", "."], "--seeds .: goes with --record FOLDER"),
    (["--record", ".", "--seeds", "nowhere"], "--seeds nowhere: no such folder"),
])
def test_seeds_without_record_or_a_folder_is_one_line(options, complaint, capsys):
    assert main(["results", *options]) == 2
    assert complaint in capsys.readouterr().err


def test_recording_adds_the_seeds_folders_finished_runs_and_keeps_what_it_recorded(tmp_path, capsys, monkeypatch):
    folder, seeds = tmp_path / "trained", tmp_path / "seeds"
    for made, name in ((folder, "fcn8s_one_stage"), (seeds, "fcn8s_one_stage_fcn_seed1")):
        made.mkdir()
        (made / ".fcn_lesson.json").write_text(json.dumps({"made_by": "train"}))
        (made / f"{name}.pt").write_bytes((REFERENCE_DIR / "fcn8s_one_stage.pt").read_bytes())
    monkeypatch.setattr(evidence, "SCENE_SETS", ("val",))
    monkeypatch.setattr(evidence, "scene_set", lambda name: Subset(scene_datasets(REFERENCE_RECIPE)[1], range(3)))
    evidence.record(folder, ["fcn8s_one_stage"], seeds=seeds, progress=False)
    meta, counts = evidence.load(folder)
    assert set(meta["models"]) == {"fcn8s_one_stage", "fcn8s_one_stage_fcn_seed1"}
    assert torch.equal(counts["fcn8s_one_stage_fcn_seed1/val/confusion"], counts["fcn8s_one_stage/val/confusion"])
    evidence.record(folder, ["fcn8s_one_stage"], seeds=seeds)
    assert "0 models on 3 val scenes (2 recorded before)" in capsys.readouterr().out
    assert torch.equal(evidence.load(folder)[1]["fcn8s_one_stage_fcn_seed1/val/confusion"],
                       counts["fcn8s_one_stage_fcn_seed1/val/confusion"])
    # a later seed in another folder (a fresh machine): the row recorded before stays, since its weights
    # do not ship and could not be scored again
    later = tmp_path / "later"
    later.mkdir()
    (later / ".fcn_lesson.json").write_text(json.dumps({"made_by": "train"}))
    (later / "fcn8s_one_stage_fcn_seed2.pt").write_bytes((REFERENCE_DIR / "fcn8s_one_stage.pt").read_bytes())
    evidence.record(folder, ["fcn8s_one_stage"], seeds=later)
    assert "1 models on 3 val scenes (2 recorded before)" in capsys.readouterr().out
    meta, after = evidence.load(folder)
    assert set(meta["models"]) == {"fcn8s_one_stage", "fcn8s_one_stage_fcn_seed1", "fcn8s_one_stage_fcn_seed2"}
    assert torch.equal(after["fcn8s_one_stage_fcn_seed1/val/confusion"],
                       counts["fcn8s_one_stage_fcn_seed1/val/confusion"])


def test_an_unstripped_model_is_scored_with_the_weights_it_would_ship_with(tmp_path):
    from fcn_lesson.checkpoints import save_checkpoint, strip_checkpoint
    from fcn_lesson.models import FCN8s

    torch.manual_seed(0)
    model = FCN8s(len(data.CLASSES), backbone="mini")
    for name in ("full", "stripped"):
        save_checkpoint(tmp_path / f"{name}.pt", model, epoch=1, epochs=1, history=[], config={}, fingerprint="x",
                        optimizer={})
    strip_checkpoint(tmp_path / "stripped.pt")
    full = TrainResult.load(tmp_path / "full.pt")
    assert not full.weights_only and full.model.score_fr.weight.dtype == torch.float32
    rounded = evidence._as_shipped(full).model.state_dict()
    shipped = TrainResult.load(tmp_path / "stripped.pt").model.state_dict()
    assert all(torch.equal(rounded[name].float(), shipped[name].float()) for name in shipped)


def test_recorded_stages_are_the_stored_seeds_of_a_row_in_seed_order():
    for arms in (evidence.ARMS, evidence.FCN_SEED_ARMS):
        for name, arm in arms.items():
            stages = evidence.recorded_stages(name, arms)
            assert list(stages) == sorted(stages) and stages[0] == arm.stages[0], name
            assert all(arm.stages[seed] == stage for seed, stage in stages.items())
            assert set(stages.values()) <= set(evidence.load()[0]["models"])
            assert f"({len(stages)} seeds" in str(evidence.estimate(name, arms=arms)) or len(stages) == 1
    with pytest.raises(ValueError, match="no arm"):
        evidence.recorded_stages("FCN-4s")


@pytest.mark.parametrize("budgets", [(20, 30), (30, 45), (20, 45), (45, 70), (20, 70), (70, 105)])
def test_levelling_sets_a_rows_gain_from_training_longer_against_its_interval(monkeypatch, budgets, reports):
    rows = evidence.trained_longer(budgets[1])
    assert rows, f"no run of {budgets[1]} epochs is recorded: train a longer plan, then record it"
    printed, whole = reports
    for arm in rows:
        found = evidence.levelling(arm, budgets=budgets)
        base, longer = (evidence.budget_runs(arm)[epochs] for epochs in budgets)
        gain = evidence.scores(longer)["mean_iu"] - evidence.scores(base)["mean_iu"]
        assert found.gain.difference == pytest.approx(gain) and found.gain.seeds == 1
        spread = evidence.estimate(arm, arms=evidence.FCN_SEED_ARMS)
        assert found.half_width == pytest.approx((spread.high - spread.low) / 2)
        assert found.yardstick == evidence.resolution()  # one for every row
        interval = found.gain.low, found.gain.high
        state = ("levelled" if max(interval) < found.yardstick else
                 "still rising" if min(interval) > found.yardstick else "too close to call")
        assert found.state == state and found.levelled == (state == "levelled")
        assert (found.epochs, found.longer_epochs) == budgets  # the staged path's three stages add up
        assert str(found) in printed and str(found) in whole
    arms = {30: evidence.LONGER_ARMS, 45: evidence.LONGEST_ARMS, 70: evidence.FURTHEST_ARMS,
            105: evidence.BEYOND_ARMS}[budgets[1]]
    at_longer = evidence.verdicts(7, arms=arms)  # the rows trained longer, run 0 alone
    assert at_longer and all(v.seeds == 1 for v in at_longer.values())
    assert all({evidence.COMPARISONS[key].a, evidence.COMPARISONS[key].b} <= set(rows) for key in at_longer)
    with pytest.raises(ValueError, match="no longer run of 'FCN-4s'"):
        evidence.levelling("FCN-4s", budgets=budgets)
    unrecorded = arms["FCN-8s"].stages[0]
    recorded = evidence._recorded
    monkeypatch.setattr(evidence, "_recorded", lambda arm: set() if arm.stages[0] == unrecorded else recorded(arm))
    with pytest.raises(ValueError, match=f"{unrecorded} is not recorded: train it"):
        evidence.levelling("FCN-8s", budgets=budgets)


def test_the_yardstick_is_the_finest_half_width_of_the_chapters_mean_iu_verdicts():
    for scenes in evidence.SCENE_SETS:
        widths = {key: (v.high - v.low) / 2 for chapter in (7, 9)
                  for key, v in evidence.verdicts(chapter, scenes).items() if key.endswith(", mean IU")}
        assert len(widths) > 5 and evidence.resolution(scenes) == min(widths.values())
    assert evidence.resolution("fresh") < evidence.resolution("val")  # more scenes resolve finer


def test_budget_runs_are_a_rows_seed_0_run_at_each_recorded_budget():
    assert evidence.budget_runs("FCN-8s") == {20: "fcn8s_one_stage", 30: "fcn8s_one_stage_longer",
                                              45: "fcn8s_one_stage_longest", 70: "fcn8s_one_stage_furthest",
                                              105: "fcn8s_one_stage_beyond"}
    assert evidence.budget_runs("FCN-8s staged") == {20: "fcn8s", 30: "fcn8s_longer", 45: "fcn8s_longest",
                                                     70: "fcn8s_furthest", 105: "fcn8s_beyond"}
    for row in evidence.trained_longer():
        runs = evidence.budget_runs(row)
        assert list(runs)[:3] == [20, 30, 45] and (70 in runs) == (row in evidence.trained_longer(70))
        assert (105 in runs) == (row in evidence.trained_longer(105)) and (105 not in runs or 70 in runs)
        steps = {3: [(20, 30), (20, 45), (30, 45)],
                 4: [(20, 30), (20, 45), (20, 70), (30, 45), (30, 70), (45, 70)],
                 5: [(20, 30), (20, 45), (20, 70), (20, 105), (30, 45), (30, 70), (30, 105), (45, 70),
                     (45, 105), (70, 105)]}
        assert evidence.level_steps(row) == steps[len(runs)]
        assert evidence.last_tested(row) == sorted(runs)[-2]
    assert evidence.budget_runs("FCN-4s") == {}


def test_a_row_levelled_at_the_first_budget_from_which_every_longer_run_gains_under_the_yardstick(reports):
    printed = reports[0]
    states = set()
    for arm in evidence.trained_longer():
        budgets = sorted(evidence.budget_runs(arm))
        flat = {pair: evidence.levelling(arm, budgets=pair).levelled for pair in evidence.level_steps(arm)}
        first = next((start for start in budgets[:-1]
                      if all(flat[start, later] for later in budgets if later > start)), None)
        assert evidence.levelled_at(arm) == first
        last = evidence.last_step(arm).state
        said = f"levelled at {first}" if first else f"{last} at {evidence.last_tested(arm)}"
        assert evidence.level_state(arm) == said and f"  {arm}: {said}\n" in printed + "\n"
        states.add(said.rsplit(" at ", 1)[0])
    assert states == {"levelled", "too close to call", "still rising"}  # the stored runs give all three
    with pytest.raises(ValueError, match=r"no budgets \(20, 60\) for FCN-8s"):
        evidence.levelling("FCN-8s", budgets=(20, 60))
    with pytest.raises(ValueError, match=r"no budgets \(30, 20\)"):
        evidence.levelling("FCN-8s", budgets=(30, 20))


def test_last_step_is_the_gain_from_the_last_budget_tested_to_the_longest_run():
    step = evidence.last_step("FCN-8s", "fresh")
    assert (step.epochs, step.longer_epochs) == (evidence.last_tested("FCN-8s"), 105) == (70, 105)
    assert step.gain.difference == evidence.levelling("FCN-8s", scenes="fresh", budgets=(70, 105)).gain.difference
    assert evidence.last_step("U-Net").longer_epochs == 70  # a row without its 105-epoch run


def test_a_stretched_step_moves_each_end_of_its_interval_out_and_says_again_what_it_finds():
    step = evidence.levelling("dilated", scenes="fresh", budgets=(20, 45))
    assert step.state == "still rising"
    stretched = step.stretched(0.018)
    assert stretched.gain.difference == step.gain.difference and stretched.yardstick == step.yardstick
    assert (stretched.gain.low, stretched.gain.high) == pytest.approx((step.gain.low - 0.018, step.gain.high + 0.018))
    assert stretched.state == "too close to call"
    assert step.stretched(step.gain.low - step.yardstick - 0.001).state == "still rising"  # clears it still
    assert step.stretched(0).state == step.state
    flat = evidence.levelling("FCN-8s staged", budgets=(70, 105))
    assert flat.state == "levelled" and flat.stretched(flat.yardstick - flat.gain.high + 0.001).state != "levelled"


def _moved(step, shift):
    """``step`` with its gain and whole interval lowered by ``shift``."""
    gain = replace(step.gain, difference=step.gain.difference - shift, low=step.gain.low - shift,
                   high=step.gain.high - shift)
    return replace(step, gain=gain)


def test_a_steps_margin_is_the_distance_from_its_nearer_interval_end_to_the_yardstick():
    step = evidence.levelling("dilated", scenes="fresh", budgets=(20, 45))
    assert step.state == "still rising" and step.margin == pytest.approx(step.gain.low - step.yardstick)
    levelled = _moved(step, step.gain.high - step.yardstick + 0.001)
    assert levelled.state == "levelled" and levelled.margin == pytest.approx(0.001)
    holding = _moved(step, step.gain.low - step.yardstick + 0.0005)  # low end 0.0005 under the yardstick
    assert holding.state == "too close to call" and holding.margin == pytest.approx(0.0005)


def test_seed_term_is_the_spread_of_two_seeds_draws_at_95_percent():
    spread = [0.60, 0.62, 0.64]  # standard deviation 0.02, three seeds: t = 4.30
    assert evidence.seed_term(spread) == pytest.approx(math.sqrt(2) * stats.t_quantile(0.975, 2) * 0.02)
    assert evidence.seed_term([0.5, 0.5]) == 0
    assert evidence.seed_term([0.6, 0.62, 0.64, 0.6, 0.64]) < evidence.seed_term(spread)  # more seeds, smaller t
    with pytest.raises(ValueError, match="two seeds' scores or more, got 1"):
        evidence.seed_term([0.6])


def test_a_widened_step_adds_the_seeds_spread_once_for_each_run_around_its_gain():
    step = evidence.levelling("dilated", scenes="fresh", budgets=(20, 45))
    half = (step.gain.high - step.gain.low) / 2
    alike = step.widened([0.5, 0.5, 0.5])  # seeds that do not spread add nothing
    assert (alike.gain.low, alike.gain.high) == pytest.approx((step.gain.difference - half, step.gain.difference + half))
    spread = [0.60, 0.62, 0.64]  # standard deviation 0.02, three seeds: t = 4.30
    wide = step.widened(spread)
    expected = math.sqrt(half ** 2 + 2 * (stats.t_quantile(0.975, 2) * 0.02) ** 2)
    assert (wide.gain.high - wide.gain.low) / 2 == pytest.approx(expected)
    assert wide.gain.difference == step.gain.difference and wide.state == "too close to call"
    with pytest.raises(ValueError, match="two seeds' scores or more, got 1"):
        step.widened([0.6])


def test_level_states_gives_each_rows_state_and_last_step_on_both_scene_sets():
    states, last = evidence.level_states(["FCN-8s", "dilated"])
    assert list(states) == list(last) == ["FCN-8s", "dilated"]
    for row in states:
        assert states[row] == tuple(evidence.level_state(row, scenes) for scenes in evidence.SCENE_SETS)
        assert last[row] == tuple(evidence.last_step(row, scenes) for scenes in evidence.SCENE_SETS)
    assert [step.yardstick for step in last["dilated"]] == [evidence.resolution(s) for s in evidence.SCENE_SETS]


def test_history_is_the_record_a_run_made_while_it_trained():
    assert evidence.history("fcn8s_one_stage") == load_reference("fcn8s_one_stage").history  # shipped
    unshipped = evidence.FCN_SEED_ARMS["FCN-8s"].stages[1]  # counts and history, no weights
    assert len(evidence.history(unshipped)) == 20
    with pytest.raises(ValueError, match="no recorded run 'fcn8s_typo'"):
        evidence.history("fcn8s_typo")


def test_plan_time_sums_each_stored_run_as_recorded_and_at_its_median_epoch():
    shipped = [load_reference(name).history for name in planned_stages("ablation")]  # every stage ships
    time = evidence.plan_time("ablation")
    assert (time.recorded, time.stages) == (len(shipped), len(shipped))
    seconds = [[epoch["seconds"] for epoch in history] for history in shipped]
    assert time.summed == pytest.approx(sum(map(sum, seconds)) / 60)
    assert time.at_median == pytest.approx(sum(statistics.median(run) * len(run) for run in seconds) / 60)
    assert time.unrecorded == ()
    ratio, stage, longest = max((max(run) / statistics.median(run), name, max(run))
                                for name, run in zip(planned_stages("ablation"), seconds))
    assert time.slowest == (stage, longest, pytest.approx(ratio))
    seeds = evidence.plan_time("seeds")  # the staged path's first two stages, per seed, are not recorded
    assert 0 < seeds.recorded < seeds.stages == seeds.recorded + len(seeds.unrecorded)
    assert seeds.unrecorded and all(name.startswith(("fcn32s", "fcn16s")) for name in seeds.unrecorded)
    assert set(evidence.TIMED_PLANS) >= {"ablation", "seeds", "furthest", "rare_furthest"}
    with pytest.raises(ValueError, match="no timed plan 'staged'"):
        evidence.plan_time("staged")


def test_first_fcn_seeds_keeps_each_rows_seeds_below_n():
    four = evidence.first_fcn_seeds(4)  # chapter 7 draws its verdicts over these (its nbval checks them)
    assert set(four) == set(evidence.FCN_SEED_ARMS)
    for name, arm in four.items():
        assert arm.stages == {s: st for s, st in evidence.FCN_SEED_ARMS[name].stages.items() if s < 4}
        assert arm.stages[0] == evidence.FCN_SEED_ARMS[name].stages[0]
    assert max(four["FCN-8s"].stages) == 3 and evidence.first_fcn_seeds(99) == evidence.FCN_SEED_ARMS
