"""Results as data: what every shipped model scored, scene by scene, and the verdicts the chapters draw.

Chapters 6, 7 and 9 compare the shipped models (:mod:`fcn_lesson.reference_models`).
A single score per model says nothing about how much of a difference is the
draw of scenes or of seeds, and scoring every model anew costs minutes. So
every shipped model is scored once, per scene, on two sets of scenes:

* ``val``: the book's validation scenes (the reference recipe's 300), the
  scenes the chapters show and report;
* ``fresh``: 1000 more scenes drawn the same way from another seed, which no
  sentence of the book was written from: every verdict a chapter states must
  come out the same on them (a test checks), so that no verdict rests on one
  draw.

Per scene it keeps counts that add up over scenes (:data:`FIELDS`): the
confusion matrix, correct and all pixels within 1, 3 and 8 px of an outline,
and the thickness counts of :func:`scales.thickness_counts`. Every score the
chapters compare is a ratio of sums of them (:data:`STATISTICS`), which is
what lets :mod:`fcn_lesson.stats` bootstrap the scenes (and, seed by seed, measure
what the seed does).

:data:`ARMS` are the rows of the experiments, each trained from the classifier
seeds of the shipped plans (seed ``i`` from the classifier of seed ``i``);
:data:`FCN_SEED_ARMS` are the same rows over the FCN seeds of one classifier
(seed 0's; the ``seeds`` and ``rare_seeds`` plans, only the seeds recorded so
far counting). The chapters' verdicts pair the FCN seeds, the classifier held
fixed, so they are about designs trained from that classifier; the appendix on
seeds shows what the classifier seeds give, and the classifier's part is a row
of its own. :data:`COMPARISONS`
are the comparisons the chapters draw; :func:`verdicts` gives a chapter its
verdicts, and :func:`levelling` says whether a row had levelled at its budget
(the ``longer`` and ``rare_longer`` plans), at half as long again (``longest``,
``rare_longest``), at that (``furthest``, ``rare_furthest``) or half as long again
once more (``beyond``, ``rare_beyond``), as far as its runs
are recorded; :func:`levelled_at` gives the first of those budgets
and :func:`level_state` says it in words. :func:`record` scores the models of a training folder
(and the finished runs of a folder those four plans trained into) and writes
the counts there (``results.npz``), so that they ship with the weights; a test
re-scores a sample of scenes and checks the stored counts. The weights of
those four plans do not ship (the folder's 25 MB would not hold them): their
counts are checked against the mean IU each run recorded while it trained.

Why 300 and 1000 scenes: scene sampling moves a paired difference of mean IU
by about +-0.02 on 300 scenes (the bootstrap measures it for each
comparison), against effects of 0.05 to 0.4 between the architectures and a
seed part that, with three seeds, is larger still; the 1000 fresh scenes
halve the scene part again, so a verdict that flips between the two sets is
one the book must not state.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from . import data, folders, metrics, scales, stats
from .metrics import boundary_mask, confusion_matrix
from .checkpoints import finished_run
from .recipe import ABLATION_SEEDS, FCN_SEEDS, LONGER_SUFFIXES, scene_datasets
from .reference_models import (REFERENCE_DIR, REFERENCE_PLANS, REFERENCE_RECIPE, RESULT_PLANS, load_reference,
                               planned_stages, reference_stages)
from .train import TrainResult, evaluate, predict

__all__ = ["ARMS", "BEYOND_ARMS", "BOUNDARY_WIDTHS", "COMPARISONS", "FCN_SEED_ARMS", "FIELDS", "FRESH_SCENES", "FRESH_SEED",
           "FURTHEST_ARMS", "LONGER_ARMS", "LONGEST_ARMS", "OTHER_SCENES_PLANS", "OWN_SCENES", "RESULTS_FILE", "SCENE_SETS", "STATISTICS",
           "THICKNESS_BINS", "Arm", "Claim", "Levelling", "budget_runs", "compare", "count_scenes", "counts", "estimate",
           "first_fcn_seeds", "history",
           "last_step", "last_tested", "level_state", "level_states", "level_steps", "levelled_at", "levelling", "load", "paired_gaps", "per_seed", "record", "recorded_stages", "report", "resolution", "scene_set", "seed_term", "score", "scores", "trained_longer",
           "verdicts"]

#: The file beside the weights that holds their per-scene counts.
RESULTS_FILE = "results.npz"
#: Widths (px) of the outline bands whose accuracy is counted.
BOUNDARY_WIDTHS = (1, 3, 8)
#: What is counted per scene: name -> the meaning of its last axes.
FIELDS = {"confusion": "true class x predicted class",
          "boundary": f"band width {BOUNDARY_WIDTHS} px x (correct, pixels)",
          "thickness": f"thickness bin x {scales.COUNTS}"}
#: The fresh scenes: the validation split of a set made with this seed (and one unused training scene).
FRESH_SEED = 1
FRESH_SCENES = 1000
SCENE_SETS = ("val", "fresh")
#: The plans whose runs trained and validated on other scenes than the book's (the rare-disc scenes).
OTHER_SCENES_PLANS = ("imbalance", "rare_seeds", *(f"rare{suffix}" for suffix in LONGER_SUFFIXES))
#: The meta key of such a run's mean IU on its own validation scenes (see :func:`record`).
OWN_SCENES = "own_scenes_mean_iu"
_FORMAT = 1


def scene_set(name: str) -> Dataset:
    """The scenes ``name`` ("val" or "fresh") every shipped model was scored on, made on first use."""
    if name == "val":
        return scene_datasets(REFERENCE_RECIPE)[1]
    if name == "fresh":
        fresh = data.make_dataset(None, train=1, val=FRESH_SCENES, size=REFERENCE_RECIPE.scene_size,
                                  seed=FRESH_SEED, name=f"{REFERENCE_RECIPE.dataset}-fresh")
        return data.voc_dataset(fresh, "val", keep_decoded=True)
    raise ValueError(f"no scene set {name!r}; there are {', '.join(SCENE_SETS)}")


@torch.inference_mode()
def count_scenes(models: dict[str, nn.Module], scenes: Dataset, num_classes: int,
                 batch_size: int = 50) -> dict[str, dict[str, torch.Tensor]]:
    """Per model, per scene of ``scenes``, the counts of :data:`FIELDS` of its predictions (on the CPU,
    in float32: the same counts on every run). What depends on the labels alone (the outline bands,
    the shapes' thickness) is computed once for all models."""
    counted = {name: {field: [] for field in FIELDS} for name in models}
    for model in models.values():
        model.cpu().float().eval()
    for start in range(0, len(scenes), batch_size):
        indices = range(start, min(start + batch_size, len(scenes)))
        images, labels = map(torch.stack, zip(*(scenes[i] for i in indices)))
        bands = [boundary_mask(labels, width) for width in BOUNDARY_WIDTHS]
        predicted = {name: predict(model, images, batch_size) for name, model in models.items()}
        thickness = scales.thickness_counts(predicted, labels, num_classes)
        for name, classes in predicted.items():
            right = classes == labels
            counted[name]["confusion"].append(confusion_matrix(classes, labels, num_classes, per_image=True))
            counted[name]["boundary"].append(torch.stack([torch.stack([(right & band).flatten(1).sum(1),
                                                                       band.flatten(1).sum(1)], 1)
                                                          for band in bands], 1))
            counted[name]["thickness"].append(thickness[name])
    return {name: {field: torch.cat(parts).int() for field, parts in fields.items()}
            for name, fields in counted.items()}


def record(folder: str | Path = REFERENCE_DIR, names: list[str] | None = None, seeds: str | Path | None = None,
           progress: bool = True) -> Path:
    """Score the models ``train`` made in ``folder`` (those of :data:`ARMS`, or ``names``), and those of
    :data:`FCN_SEED_ARMS` that the folder ``seeds`` (``train --plan seeds``) holds finished, on every
    scene set; write their counts, fingerprints and histories to ``folder/results.npz``. A model stored
    there with the same fingerprint keeps its counts, as scoring a model on every scene is the slow part. A
    row of the seeds plan stored there and not in ``seeds`` keeps its counts too: its weights do not ship.
    A run trained on other scenes (:data:`OTHER_SCENES_PLANS`) also gets its mean IU on its own
    validation scenes (:data:`OWN_SCENES`), which is what its history measured."""
    folder = Path(folder)
    if folders.made_by(folder) != "train":
        raise ValueError(f"{folder} was not made by train: record the results of a training folder")
    names = names or [stage for arm in ARMS.values() for stage in arm.stages.values()]
    paths = {name: folder / f"{name}.pt" for name in names}
    if seeds is not None:
        finished = [name for name in _unshipped_stages() if finished_run(Path(seeds) / f"{name}.pt")]
        paths.update({name: Path(seeds) / f"{name}.pt" for name in finished})
    trained = {name: _as_shipped(TrainResult.load(path)) for name, path in paths.items()}
    try:
        meta, stored = load(folder)
    except (FileNotFoundError, ValueError):  # none yet, or one to record again
        meta, stored = {"models": {}}, {}
    kept = {name for name, result in trained.items()
            if meta["models"].get(name, {}).get("fingerprint") == result.fingerprint}
    # the seeds plan's rows ship as counts alone: one recorded before and absent from ``seeds`` now (a
    # fresh machine, another folder) cannot be scored again, so it stays as it was recorded
    earlier = {name: meta["models"][name] for name in _unshipped_stages()
               if name in meta["models"] and name not in trained}
    arrays = {key: _stored(counts) for key, counts in stored.items() if key.split("/")[0] in kept | set(earlier)}
    new = {name: result.model for name, result in trained.items() if name not in kept}
    for scenes in SCENE_SETS:
        dataset = scene_set(scenes)
        if progress:
            print(f"{len(new)} models on {len(dataset)} {scenes} scenes ({len(kept) + len(earlier)} recorded "
                  "before)", flush=True)
        counted = count_scenes(new, dataset, len(data.CLASSES)) if new else {}
        arrays.update({f"{name}/{scenes}/{field}": _stored(counts)
                       for name, fields in counted.items() for field, counts in fields.items()})
    models = {name: {"fingerprint": result.fingerprint, "history": result.history} for name, result in trained.items()}
    for name, result in trained.items():
        own = meta["models"].get(name, {}).get(OWN_SCENES) if name in kept else None
        own = _own_scenes_mean_iu(name, result.model) if own is None else own
        if own is not None:
            models[name][OWN_SCENES] = own
    meta = {"format": _FORMAT, "fields": FIELDS, "models": earlier | models,
            "scenes": {"val": f"{REFERENCE_RECIPE.dataset}, seed {REFERENCE_RECIPE.scene_seed}, split val",
                       "fresh": f"{REFERENCE_RECIPE.dataset}-fresh, seed {FRESH_SEED}, split val"}}
    folders.write_files(folder, "train", {RESULTS_FILE: _npz_lzma(meta=np.array(json.dumps(meta)), **arrays)})
    load.cache_clear()
    _weighed.cache_clear()  # its steps were weighed on the counts just replaced
    resolution.cache_clear()
    return folder / RESULTS_FILE


def _npz_lzma(**arrays: np.ndarray) -> bytes:
    """``arrays`` as an ``.npz`` that :func:`numpy.load` reads, compressed by LZMA instead of
    ``savez_compressed``'s deflate: the per-scene counts take about a sixth less room, which keeps the
    shipped folder within its 25 MiB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_LZMA) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as file:
                np.lib.format.write_array(file, array, allow_pickle=False)
    return buffer.getvalue()


def _stored(counts: torch.Tensor) -> np.ndarray:
    """Per-scene counts as 16-bit integers (a 128-pixel scene has 16,384 pixels): half the file."""
    if counts.numel() and not 0 <= int(counts.min()) <= int(counts.max()) <= np.iinfo(np.int16).max:
        raise ValueError(f"counts from {int(counts.min())} to {int(counts.max())} do not fit 16 bits: scenes "
                         "this large need another results format")
    return counts.numpy().astype(np.int16)


def _own_scenes_mean_iu(stage: str, model: nn.Module) -> float | None:
    """The mean IU of a run trained on other scenes than the book's (the imbalance rows), on the
    validation scenes its history's mean IU was measured on; None for a run on the book's scenes."""
    for plan in OTHER_SCENES_PLANS:
        if stage in planned_stages(plan):
            own_val = scene_datasets(REFERENCE_RECIPE.plan(plan).data)[1]
            return evaluate(model.cpu().float(), own_val, num_classes=len(data.CLASSES), device="cpu")["mean_iu"]
    return None


def _as_shipped(result: TrainResult) -> TrainResult:
    """``result`` with its learned weights rounded to half precision as ``train --weights-only`` ships
    them (see :func:`checkpoints.strip_checkpoint`), so that every model is scored the same way."""
    if not result.weights_only:
        with torch.no_grad():
            for parameter in result.model.parameters():
                if parameter.requires_grad:
                    parameter.copy_(parameter.half().float())
    return result


@cache
def load(folder: Path = REFERENCE_DIR) -> tuple[dict, dict[str, torch.Tensor]]:
    """The stored results of ``folder``: (meta, counts by "<stage>/<scenes>/<field>")."""
    path = Path(folder) / RESULTS_FILE
    try:
        with np.load(path) as stored:
            meta = json.loads(str(stored["meta"]))
            counts = {key: torch.from_numpy(stored[key].astype(np.int32)) for key in stored.files if key != "meta"}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: run python -m fcn_lesson results --record "
                                f"{folder}") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a results file ({err}): record it again with "
                         f"python -m fcn_lesson results --record {folder}") from None
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path} is in another format than this fcn_lesson reads: record it again")
    return meta, counts


# --- the arms and what is compared ----------------------------------------------------------

@dataclass(frozen=True)
class Arm:
    """A row of an experiment: the stage trained from each seed offset, in one of the reference plans."""

    name: str
    plan: str
    stages: dict[int, str]  # seed offset -> stage name
    about: str  # what differs from the row it is compared with


def _arm(name: str, plan: str, stage: str, about: str) -> Arm:
    """The arm of ``stage``: its seed-0 stage and the stages ``_seed<i>`` the plan trains beside it."""
    trained = planned_stages(plan)
    seeds = {offset: stage + (f"_seed{offset}" if offset else "") for offset in ABLATION_SEEDS}
    return Arm(name, plan, {offset: s for offset, s in seeds.items() if s in trained}, about)


#: The rows of chapters 7 and 9, by the name the chapters give them.
ARMS = {arm.name: arm for arm in (
    _arm("FCN-32s", "ablation", "fcn32s_one_stage", "one stage, no skip"),
    _arm("FCN-16s", "ablation", "fcn16s_one_stage", "one stage, the pool4 skip"),
    _arm("FCN-8s", "ablation", "fcn8s_one_stage", "one stage, the pool4 and pool3 skips"),
    _arm("FCN-8s staged", "ablation", "fcn8s", "trained 32s -> 16s -> 8s, the paper's path (not its rates)"),
    _arm("at once", "ablation", "fcn8s_at_once", "the reference code's at-once factors (pool4 x 0.01, pool3 x 0.0001)"),
    _arm("at once, SGD", "ablation", "fcn8s_at_once_sgd", "the factors, SGD with momentum 0.99, summed loss"),
    _arm("learned upsampling", "ablation", "fcn8s_learned_up", "its bilinear upsamplers learned"),
    _arm("no pre-training", "ablation", "fcn8s_scratch", "from random weights"),
    _arm("dilated", "after", "dilated", "a dilated backbone at stride 8, interpolation"),
    _arm("U-Net", "after", "unet", "a U-Net decoder"),
    _arm("plain loss, rare disc", "imbalance", "rare_fcn8s", "FCN-8s trained where the disc is rare"),
    _arm("balanced loss, rare disc", "imbalance", "rare_fcn8s_balanced", "the same with a balanced loss"),
)}


def _over_fcn_seeds(arm: Arm) -> Arm:
    """``arm`` over FCN seeds: seed 0's stage, then its ``<stage>_fcn_seed<i>`` of the ``seeds`` plan
    (of ``rare_seeds`` for the imbalance rows, which train on other scenes)."""
    plan = "rare_seeds" if arm.plan == "imbalance" else "seeds"
    first, planned = arm.stages[0], planned_stages(plan)
    seeds = {offset: f"{first}_fcn_seed{offset}" for offset in FCN_SEEDS}
    return replace(arm, plan=plan, stages={0: first, **{o: s for o, s in seeds.items() if s in planned}})


#: :data:`ARMS` over FCN seeds, the classifier held fixed (the ``seeds`` and ``rare_seeds`` plans).
FCN_SEED_ARMS = {name: _over_fcn_seeds(arm) for name, arm in ARMS.items()}


def first_fcn_seeds(n: int) -> dict[str, Arm]:
    """:data:`FCN_SEED_ARMS` over FCN seeds 0 to ``n - 1`` alone: what a verdict said before the later
    seeds were recorded (``verdicts(chapter, arms=first_fcn_seeds(4))``)."""
    return {name: replace(arm, stages={seed: stage for seed, stage in arm.stages.items() if seed < n})
            for name, arm in FCN_SEED_ARMS.items()}


def _longer_plan(arm: Arm, suffix: str) -> str:
    """The plan that trains ``arm``'s seed-0 run longer by ``suffix``: ``longer``, ``longest`` or
    ``furthest`` or ``beyond`` (the imbalance rows: ``rare_longer``, ``rare_longest``, ``rare_furthest``,
    ``rare_beyond``)."""
    return f"rare{suffix}" if arm.plan == "imbalance" else suffix.removeprefix("_")


def _longer_arms(suffix: str) -> dict[str, Arm]:
    """The rows of :data:`ARMS` whose seed-0 run the plans of ``suffix`` train longer, as rows of that
    run alone (``<stage><suffix>``)."""
    return {name: replace(arm, plan=_longer_plan(arm, suffix), stages={0: f"{arm.stages[0]}{suffix}"})
            for name, arm in ARMS.items()
            if f"{arm.stages[0]}{suffix}" in planned_stages(_longer_plan(arm, suffix))}


#: The rows of :data:`ARMS` trained :data:`recipe.LONGER` times as long, run 0 alone (the ``longer`` and
#: ``rare_longer`` plans): what :func:`levelling` compares with each row's run 0, and what the
#: chapters' comparisons give at that budget (``verdicts(chapter, arms=LONGER_ARMS)``; one run each).
LONGER_ARMS = _longer_arms("_longer")
#: The same, half as long again (``longest``, ``rare_longest``): the second step of :func:`levelling`.
LONGEST_ARMS = _longer_arms("_longest")
#: The same, at least half as long again once more (``furthest``, ``rare_furthest``; see
#: :data:`recipe.FURTHEST`): the third step, for the rows that had not levelled by the second.
FURTHEST_ARMS = _longer_arms("_furthest")
#: The same, half as long again as that (``beyond``, ``rare_beyond``; see :data:`recipe.BEYOND`): the
#: fourth step, for the rows that had not levelled by the third.
BEYOND_ARMS = _longer_arms("_beyond")
#: Each row's seed-0 run at its budget, then at each longer one: the steps :func:`levelling` measures.
_BUDGETS = (ARMS, LONGER_ARMS, LONGEST_ARMS, FURTHEST_ARMS, BEYOND_ARMS)


def _unshipped_stages() -> list[str]:
    """The stages whose results ship without their weights: the FCN seeds past 0, the longer runs."""
    seeds = [stage for arm in FCN_SEED_ARMS.values() for offset, stage in arm.stages.items() if offset]
    return seeds + [arm.stages[0] for arms in _BUDGETS[1:] for arm in arms.values()]


def _class_iu(index: int):
    return lambda confusion: metrics.class_iu(confusion)[..., index]


def _bin_iu(index: int):
    return lambda thickness: scales.bin_iu(thickness)[..., index]


def _boundary_accuracy(index: int):
    return lambda boundary: boundary[..., index, 0] / boundary[..., index, 1]


#: The thickness bins' names, as :func:`scales.binned_scores` gives them ("1-7", ..., ">= 32").
THICKNESS_BINS = tuple(row["bin"] for row in scales.binned_scores(
    torch.zeros(len(scales.STRIDE_BINS) - 1, len(scales.COUNTS))))


#: The scores compared, by name: (the field of counts it reads, the score of summed counts).
STATISTICS = {
    "mean IU": ("confusion", metrics.mean_iu),
    "pixel accuracy": ("confusion", metrics.pixel_accuracy),
    **{f"IU {name}": ("confusion", _class_iu(index)) for index, name in enumerate(data.CLASSES)},
    **{f"boundary accuracy {width} px": ("boundary", _boundary_accuracy(i))
       for i, width in enumerate(BOUNDARY_WIDTHS)},
    **{f"IU thickness {label} px": ("thickness", _bin_iu(i)) for i, label in enumerate(THICKNESS_BINS)},
}


@dataclass(frozen=True)
class Claim:
    """A comparison a chapter draws: ``statistic`` of arm ``a`` against ``b_statistic`` (by default the
    same) of arm ``b``. ``settled``: its verdict is the same on both scene sets, and the chapter states
    it; an unsettled one (the sets disagree) the chapter reports as undecided (a test checks which)."""

    chapter: int
    a: str
    b: str
    statistic: str = "mean IU"
    b_statistic: str | None = None
    settled: bool = True

    @property
    def key(self) -> str:
        if self.b_statistic is None:
            return f"{self.a} vs {self.b}, {self.statistic}"
        return f"{self.a}, {self.statistic} vs {self.b}, {self.b_statistic}"


def _claims() -> list[Claim]:
    claims = [Claim(6, "FCN-32s", "FCN-32s", f"IU {found}", f"IU {thin}")
              for found in ("disc", "square", "triangle", "cross") for thin in ("ring", "bar")]
    claims += [Claim(7, "FCN-16s", "FCN-32s"), Claim(7, "FCN-8s", "FCN-16s"), Claim(7, "FCN-8s", "FCN-32s"),
               Claim(7, "FCN-8s staged", "FCN-8s"), Claim(7, "FCN-8s", "at once"),
               Claim(7, "at once", "FCN-32s"), Claim(7, "FCN-32s", "at once, SGD"),
               Claim(7, "FCN-8s", "no pre-training"), Claim(7, "learned upsampling", "FCN-8s")]
    bins = [f"IU thickness {label} px" for label in THICKNESS_BINS]
    unsettled = {("FCN-8s", "FCN-16s", "IU cross"), ("learned upsampling", "FCN-8s", "mean IU"),
                 ("U-Net", "FCN-8s", "IU thickness >= 32 px")}
    claims += [Claim(7, finer, coarser, statistic) for finer, coarser in (("FCN-8s", "FCN-32s"), ("FCN-8s", "FCN-16s"))
               for statistic in bins]
    claims += [Claim(7, finer, coarser, f"IU {name}") for finer, coarser in (("FCN-16s", "FCN-32s"),
                                                                             ("FCN-8s", "FCN-16s"))
               for name in data.CLASSES[1:]]
    claims += [Claim(7, "FCN-8s", "FCN-32s", f"boundary accuracy {width} px") for width in BOUNDARY_WIDTHS]
    claims += [Claim(9, "dilated", "FCN-8s"), Claim(9, "U-Net", "FCN-8s"), Claim(9, "U-Net", "dilated")]
    claims += [Claim(9, descendant, "FCN-8s", statistic) for descendant in ("dilated", "U-Net")
               for statistic in [*bins, "boundary accuracy 3 px"]]
    claims += [Claim(9, "FCN-8s", "plain loss, rare disc", "IU disc"),
               Claim(9, "plain loss, rare disc", "balanced loss, rare disc")]
    claims += [Claim(9, "balanced loss, rare disc", "plain loss, rare disc", f"IU {name}")
               for name in data.CLASSES]
    return [replace(claim, settled=False) if (claim.a, claim.b, claim.statistic) in unsettled else claim
            for claim in claims]


#: Every comparison the chapters draw; each chapter states no more than its verdict (and calls the
#: unsettled ones undecided).
COMPARISONS = {claim.key: claim for claim in _claims()}


def counts(stage: str, field: str = "confusion", scenes: str = "val") -> torch.Tensor:
    """The stored per-scene counts of one shipped stage: ``field`` of :data:`FIELDS` on ``scenes``."""
    stored = load()[1]
    key = f"{stage}/{scenes}/{field}"
    if key not in stored:
        raise ValueError(f"no stored {field} counts of {stage!r} on the {scenes!r} scenes; the stages "
                         f"are {', '.join(load()[0]['models'])}, the fields {', '.join(FIELDS)}")
    return stored[key]


def scores(stage: str, scenes: str = "val") -> dict:
    """The four scores and per-class IU of one shipped stage on ``scenes`` (:func:`metrics.scores` of
    its stored confusion counts, summed over the scenes)."""
    return metrics.scores(counts(stage, "confusion", scenes).sum(0))


def history(stage: str) -> list[dict]:
    """The per-epoch record of ``stage``'s training (loss, speed, validation scores), stored with its
    counts: the FCN-seed runs ship no weights, so their curves live only here."""
    models = load()[0]["models"]
    if stage not in models:
        raise ValueError(f"no recorded run {stage!r}; the recorded runs are {', '.join(models)}")
    return models[stage]["history"]


#: The plans whose runs ship, as weights or as scores: the shipped ones, the FCN seeds' and the longer runs'.
TIMED_PLANS = (*REFERENCE_PLANS, "seeds", "rare_seeds",
               *(plan for suffix in LONGER_SUFFIXES for plan in (suffix[1:], f"rare{suffix}")))


@dataclass(frozen=True)
class PlanTime:
    """What a plan's runs took by their own histories (training passes only, in minutes): ``summed`` as
    recorded, and ``at_median``, each run's median epoch times its epochs, which discounts the epochs
    that took far longer than their run's median for a reason no history records (the machine's load,
    say). Over the ``recorded`` of its ``stages`` that have a stored history (``unrecorded`` names the
    others), the classifiers included where the plan loads them instead of training them: a classifier's
    minutes count in every plan that uses it. ``slowest`` is the epoch furthest above its run's median:
    (stage, its seconds, how many times the median it took)."""

    plan: str
    recorded: int
    stages: int
    summed: float
    at_median: float
    unrecorded: tuple[str, ...]
    slowest: tuple[str, float, float]


def plan_time(plan: str) -> PlanTime:
    """:class:`PlanTime` of ``plan`` (one of :data:`TIMED_PLANS`), from the stored histories: the shipped
    models' checkpoints and the recorded runs' results."""
    if plan not in TIMED_PLANS:
        raise ValueError(f"no timed plan {plan!r}; there are {', '.join(TIMED_PLANS)}")
    recorded, shipped, stages = load()[0]["models"], reference_stages(), planned_stages(plan)
    stored = [name for name in stages if name in recorded or name in shipped]
    histories = [recorded[name]["history"] if name in recorded else load_reference(name).history
                 for name in stored]
    seconds = [[epoch["seconds"] for epoch in history] for history in histories]
    medians = [float(np.median(run)) for run in seconds]
    ratio, stage, longest = max((max(run) / middle, name, max(run))
                                for name, run, middle in zip(stored, seconds, medians))
    return PlanTime(plan, len(histories), len(stages), sum(map(sum, seconds)) / 60,
                    sum(middle * len(run) for run, middle in zip(seconds, medians)) / 60,
                    tuple(name for name in stages if name not in stored), (stage, longest, ratio))


def _counts(arm: Arm, field: str, scenes: str, seeds: list[int]) -> torch.Tensor:
    return torch.stack([counts(arm.stages[seed], field, scenes) for seed in seeds])


def _recorded(arm: Arm) -> set[int]:
    """The seeds of ``arm`` whose results are stored (the ``seeds`` plan's grow as it is trained)."""
    return {seed for seed, stage in arm.stages.items() if stage in load()[0]["models"]}


def recorded_stages(arm: str, arms: dict[str, Arm] = FCN_SEED_ARMS) -> dict[int, str]:
    """The stages of ``arm`` (in ``arms``: :data:`FCN_SEED_ARMS` or :data:`ARMS`) whose results are
    stored, by seed offset, in seed order: read a row seed by seed as the seeds get recorded."""
    row = _arm_named(arm, arms)
    return {seed: row.stages[seed] for seed in sorted(_recorded(row))}


def per_seed(arm: str, scenes: str = "val") -> dict[int, float]:
    """``arm``'s mean IU at each recorded FCN seed of seed 0's classifier: the values a verdict pairs,
    to read one seed at a time."""
    return {seed: scores(stage, scenes)["mean_iu"] for seed, stage in recorded_stages(arm).items()}


def paired_gaps(a: str, b: str, scenes: str = "val") -> dict[int, float]:
    """``a``'s mean IU minus ``b``'s at each FCN seed both rows have recorded: the paired differences
    whose mean a verdict's interval is centred on."""
    ius_a, ius_b = per_seed(a, scenes), per_seed(b, scenes)
    return {seed: ius_a[seed] - ius_b[seed] for seed in ius_a if seed in ius_b}


def _arm_named(name: str, arms: dict[str, Arm]) -> Arm:
    if name not in arms:
        raise ValueError(f"no arm {name!r}; there are {', '.join(arms)}")
    return arms[name]


def _statistic(name: str):
    if name not in STATISTICS:
        raise ValueError(f"no statistic {name!r}; there are {', '.join(STATISTICS)}")
    return STATISTICS[name]


def score(statistic: str):
    """The function that turns summed counts into ``statistic`` (a name in :data:`STATISTICS`): what
    :func:`stats.compare` needs to judge counts that are not stored results (chapter 6's fitted map)."""
    return _statistic(statistic)[1]


def estimate(arm: str, statistic: str = "mean IU", scenes: str = "val", arms: dict[str, Arm] = FCN_SEED_ARMS
             ) -> stats.Estimate:
    """``arm``'s ``statistic`` on ``scenes``, its mean over the arm's recorded seeds with its interval
    (``arms``: :data:`FCN_SEED_ARMS`, the chapters', or :data:`ARMS`, over classifier seeds)."""
    field, score = _statistic(statistic)
    row = _arm_named(arm, arms)
    return stats.estimate(arm, _counts(row, field, scenes, sorted(_recorded(row))), score)


def compare(claim: Claim, scenes: str = "val", arms: dict[str, Arm] | None = None) -> stats.Verdict:
    """The verdict on ``claim`` from the stored counts on ``scenes``, paired by scene and by the seeds
    both arms were trained from (and recorded) in ``arms``: by default the chapters',
    :data:`FCN_SEED_ARMS`, the classifier held fixed; :data:`ARMS` pairs the classifier seeds."""
    arms = FCN_SEED_ARMS if arms is None else arms
    a, b = _arm_named(claim.a, arms), _arm_named(claim.b, arms)
    (field, score_a), (field_b, score_b) = (_statistic(claim.statistic),
                                            _statistic(claim.b_statistic or claim.statistic))
    if field != field_b:
        raise ValueError(f"{claim.key}: the two statistics read different counts ({field}, {field_b})")
    seeds = sorted(_recorded(a) & _recorded(b))
    if not seeds:
        raise ValueError(f"{claim.key}: no seed of both rows is recorded; record their runs first "
                         "(python -m fcn_lesson results --record)")
    counts_a, counts_b = _counts(a, field, scenes, seeds), _counts(b, field, scenes, seeds)
    name_a = claim.a if claim.b_statistic is None else f"{claim.a}, {claim.statistic}"
    name_b = claim.b if claim.b_statistic is None else f"{claim.b}, {claim.b_statistic}"
    return stats.compare(name_a, counts_a, name_b, counts_b, (score_a, score_b), paired=True,
                         statistic=claim.statistic if claim.b_statistic is None else "")


def verdicts(chapter: int, scenes: str = "val", arms: dict[str, Arm] | None = None
             ) -> dict[str, stats.Verdict]:
    """Chapter ``chapter``'s verdicts on ``scenes``, by the key of their :class:`Claim`, each paired over
    the FCN seeds of one classifier (the chapters' :data:`FCN_SEED_ARMS`) or over those of ``arms``
    (:data:`ARMS`: each seed with its own classifier; :data:`LONGER_ARMS`: run 0 trained longer; only
    the claims whose two arms it holds, each with a seed recorded that the other has too)."""
    held = FCN_SEED_ARMS if arms is None else arms
    return {key: compare(claim, scenes, arms) for key, claim in COMPARISONS.items()
            if claim.chapter == chapter and {claim.a, claim.b} <= set(held)
            and _recorded(held[claim.a]) & _recorded(held[claim.b])}


@cache
def resolution(scenes: str = "val") -> float:
    """The sharpest precision among the mean-IU verdicts of chapters 7 and 9 on ``scenes``: the smallest
    half-width of their comparisons (that comparison need not tell its own difference from zero). It is
    the levelling test's yardstick, one for every row: a gain under it is smaller than any difference
    those verdicts could tell from zero. (A row's own
    half-width would mostly be lenient: unpaired, it keeps what the scenes and seeds do to the row, which
    pairing cancels, most where its seeds spread; the levelling appendix's exercise shows where, and where
    it is not.)"""
    return min((verdict.high - verdict.low) / 2 for chapter in (7, 9)
               for key, verdict in verdicts(chapter, scenes).items() if key.endswith(", mean IU"))


def seed_term(seed_scores: Iterable[float]) -> float:
    """What :meth:`Levelling.widened` adds for another seed, at 95 %: the spread of ``seed_scores`` (a
    row's FCN seeds at one budget), once for each of a step's two runs, times Student's t over those
    seeds: sqrt(2) t s. Set against the yardstick it says whether one seed per budget could show a row
    levelled at all."""
    values = [float(value) for value in seed_scores]
    if len(values) < 2:
        raise ValueError(f"a seed term needs two seeds' scores or more, got {len(values)}")
    return math.sqrt(2) * stats.t_quantile((1 + stats.LEVEL) / 2, len(values) - 1) * float(np.std(values, ddof=1))


@dataclass(frozen=True)
class Levelling:
    """Whether a row had levelled at a budget: what its seed-0 run gains from a longer budget, against
    the yardstick :func:`resolution`, the sharpest precision among the chapters' mean-IU verdicts. The
    gain's own interval decides, not its point: wholly under the yardstick, the row had *levelled* (more
    training raised it by less than any verdict can see; one-sided, so a fall counts too); wholly above,
    it was *still rising*; holding it, the step is *too close to call*. A poly-scheduled run takes only
    small steps as it ends, whatever its length, so only a longer run can tell. ``half_width``: the row's
    own, over FCN seeds and scenes at its own budget, kept for comparison, not used by the test."""

    arm: str
    epochs: int
    longer_epochs: int
    gain: stats.Verdict  # the longer run minus the seed-0 run, paired by scene (one seed each)
    yardstick: float
    half_width: float

    @property
    def state(self) -> str:
        if self.gain.high < self.yardstick:
            return "levelled"
        return "still rising" if self.gain.low > self.yardstick else "too close to call"

    @property
    def levelled(self) -> bool:
        return self.state == "levelled"

    @property
    def margin(self) -> float:
        """How far the interval's nearer end lies from the yardstick: how little the interval (another
        draw of scenes, another seed) would have to move for :attr:`state` to change."""
        return min(abs(self.gain.low - self.yardstick), abs(self.gain.high - self.yardstick))

    def stretched(self, shift: float) -> "Levelling":
        """This step with each end of its interval moved out by ``shift``: what it says when something
        other than the longer training (another start, another ``fit``, an unrecorded difference) could
        have moved either run by up to that much, either way. Still rising only if the gain clears the
        yardstick by more than ``shift``; levelled only if it stays under it by more."""
        gain = replace(self.gain, low=self.gain.low - shift, high=self.gain.high + shift)
        return replace(self, gain=gain)

    def widened(self, seed_scores: Iterable[float]) -> "Levelling":
        """This step as though its two runs were two seeds' draws: its interval, centred on the gain,
        widened by the spread of ``seed_scores`` (the row's FCN seeds at its own budget) once for each
        run, with Student's t over those seeds as :func:`stats.compare` takes it. Two runs of one seed share
        their batches, which should make them move together, but nothing measures by how much; and the
        spread comes from a few seeds at one budget: an estimate, not a bound."""
        half = math.hypot((self.gain.high - self.gain.low) / 2, seed_term(seed_scores))
        gain = replace(self.gain, low=self.gain.difference - half, high=self.gain.difference + half)
        return replace(self, gain=gain)

    def __str__(self) -> str:
        return (f"{self.arm}: {self.epochs} -> {self.longer_epochs} epochs gains {self.gain.difference:+.3f} "
                f"[{self.gain.low:+.3f}, {self.gain.high:+.3f}] (yardstick {self.yardstick:.3f}): {self.state}")


def _fcn_epochs(stage: str, plan: str) -> int:
    """Epochs of ``stage`` and of the FCN stages it continues (the staged path's three add up)."""
    stages = planned_stages(plan)
    epochs = 0
    while stage in stages and stages[stage].model != "classifier":
        epochs += stages[stage].config.epochs
        stage = stages[stage].start
    return epochs


def _budget_arms(arm: str) -> dict[int, Arm]:
    """``arm``'s seed-0 run at each budget the plans train it to (recorded or not), by FCN epochs."""
    return {_fcn_epochs(arms[arm].stages[0], arms[arm].plan): arms[arm] for arms in _BUDGETS if arm in arms}


def budget_runs(arm: str) -> dict[int, str]:
    """``arm``'s seed-0 run at each budget recorded (its own, then the longer plans'), by its FCN epochs:
    the runs :func:`levelling` compares."""
    return {epochs: row.stages[0] for epochs, row in _budget_arms(arm).items() if _recorded(row)}


def levelling(arm: str, statistic: str = "mean IU", scenes: str = "val", budgets: tuple[int, int] = (20, 30)
              ) -> Levelling:
    """Whether ``arm`` had levelled by ``statistic`` on ``scenes``: its seed-0 run at the first of
    ``budgets`` (FCN epochs) against the same run trained to the second, paired by scene; the budgets
    are the row's own (20), the ``longer`` plans' (30), the ``longest`` (45), the ``furthest`` (70) and
    the ``beyond`` (105)."""
    planned = _budget_arms(arm)
    if len(planned) < 2:
        raise ValueError(f"no longer run of {arm!r}; there are runs of {', '.join(LONGER_ARMS)}")
    if not set(budgets) <= set(planned) or budgets[0] >= budgets[1]:
        raise ValueError(f"no budgets {budgets} for {arm}: pick two of {sorted(planned)}, the shorter first")
    for row in (planned[budgets[0]], planned[budgets[1]]):
        if not _recorded(row):
            raise ValueError(f"{row.stages[0]} is not recorded: train it (train --plan {row.plan}) and "
                             "record it (results --record FOLDER --seeds THAT_FOLDER)")
    return _weighed(arm, statistic, scenes, tuple(budgets))


@cache
def _weighed(arm: str, statistic: str, scenes: str, budgets: tuple[int, int]) -> Levelling:
    """The bootstraps behind :func:`levelling`, once per step: :func:`levelled_at`, :func:`last_step`,
    the report and the pages' tables weigh the same steps again. :func:`record` clears it with the counts."""
    field, score = _statistic(statistic)
    base, run = (_budget_arms(arm)[epochs].stages[0] for epochs in budgets)
    gain = stats.compare(f"{arm}, {budgets[1]} epochs", counts(run, field, scenes)[None],
                         f"{budgets[0]} epochs", counts(base, field, scenes)[None], score, paired=True,
                         statistic=statistic)
    spread = estimate(arm, statistic, scenes)
    return Levelling(arm, *budgets, gain, resolution(scenes), (spread.high - spread.low) / 2)


def trained_longer(epochs: int = 30) -> list[str]:
    """The rows whose seed-0 run is recorded at its own budget and at ``epochs``, in the order of
    :data:`ARMS`."""
    return [name for name in ARMS if {20, epochs} <= set(budget_runs(name))]


def level_steps(arm: str) -> list[tuple[int, int]]:
    """The pairs of recorded budgets :func:`levelled_at` weighs for ``arm``: each budget against every
    longer one."""
    budgets = sorted(budget_runs(arm))
    return [(start, later) for index, start in enumerate(budgets) for later in budgets[index + 1:]]


def last_tested(arm: str) -> int:
    """The longest budget at which ``arm`` can be tested for levelling: the one before its longest run."""
    return sorted(budget_runs(arm))[-2]


def last_step(arm: str, scenes: str = "val") -> Levelling:
    """``arm``'s last step, from :func:`last_tested` to its longest run: "levelled" means a gain under
    the yardstick, not none, so whether this gain's interval still lies above zero says whether the
    row was still gaining where it is called levelled."""
    return levelling(arm, scenes=scenes, budgets=(last_tested(arm), max(budget_runs(arm))))


def level_states(rows: Iterable[str]) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[Levelling, Levelling]]]:
    """Each row's :func:`level_state`, then its :func:`last_step`, on the validation and the fresh scenes
    (by :data:`SCENE_SETS`): what the pages' levelling tables and figures show."""
    rows = list(rows)
    states = {row: tuple(level_state(row, scenes) for scenes in SCENE_SETS) for row in rows}
    return states, {row: tuple(last_step(row, scenes) for scenes in SCENE_SETS) for row in rows}


def levelled_at(arm: str, scenes: str = "val") -> int | None:
    """The first budget (FCN epochs) at which ``arm`` had levelled on ``scenes``: the first from which
    every longer run recorded gains less than the yardstick, its interval wholly under it
    (:class:`Levelling`); None when none does. A row that passes one step and gains more in a later one
    had not levelled: one run's gain is noisy."""
    budgets = sorted(budget_runs(arm))
    for index, start in enumerate(budgets[:-1]):
        if all(levelling(arm, scenes=scenes, budgets=(start, later)).levelled for later in budgets[index + 1:]):
            return start
    return None


def level_state(arm: str, scenes: str = "val") -> str:
    """What the runs say of ``arm`` on ``scenes``, in words: "levelled at" its :func:`levelled_at`, else
    its :func:`last_step`'s state ("still rising" or "too close to call") at the last budget that step tests."""
    epochs = levelled_at(arm, scenes)
    return f"levelled at {epochs}" if epochs else f"{last_step(arm, scenes).state} at {last_tested(arm)}"


def report(plan: str | None = None, scenes: str = "val") -> str:
    """The grid as text, for ``python -m fcn_lesson results``: each arm of ``plan`` (or of every
    reference plan) with its mean IU over FCN seeds (and over classifier seeds, where it has several),
    then each comparison the chapters draw between them, with its verdict on ``scenes`` and whether
    the other scene set agrees, then whether each row had levelled; ``plan="longer"``: that last part."""
    if plan is not None and plan not in RESULT_PLANS:
        raise ValueError(f"no plan {plan!r} with results; there are {', '.join(RESULT_PLANS)}")
    if plan == "longer":
        return _levelling_report(scenes)
    names = [name for name, arm in ARMS.items() if plan in (None, arm.plan)]
    other = next(name for name in SCENE_SETS if name != scenes)
    lines = [f"mean IU on the {scenes} scenes, mean over the FCN seeds of the seed-0 classifier (the rare-disc "
             "rows: of its copy, rare_classifier) [95% interval over seeds and scenes]; under a row with "
             "several classifier seeds, its mean over those:"]
    for name in names:
        lines.append(f"  {estimate(name, scenes=scenes)}  - {ARMS[name].about}")
        if len(_recorded(ARMS[name])) > 1:
            lines.append(f"    over classifier seeds: {estimate(name, scenes=scenes, arms=ARMS)}")
    lines.append(f"\ncomparisons the chapters draw, over FCN seeds (verdict on the {scenes} scenes; on the "
                 f"{other} scenes):")
    for claim in COMPARISONS.values():
        if not {claim.a, claim.b} & set(names):
            continue
        verdict, check = compare(claim, scenes), compare(claim, other)
        agree = "same" if check.ahead == verdict.ahead else f"differs, {check.outcome}: undecided"
        lines.append(f"  ch{claim.chapter} {verdict}; {other}: {agree}")
    if plan is None:
        lines += ["", _levelling_report(scenes)]
    return "\n".join(lines)


def _levelling_report(scenes: str) -> str:
    rows = [f"  {levelling(arm, scenes=scenes, budgets=pair)}" for arm in trained_longer() for pair in level_steps(arm)]
    states = [f"  {arm}: {level_state(arm, scenes)}" for arm in trained_longer()]
    factors = ", ".join(f"{times:g}" for times in LONGER_SUFFIXES.values())
    return "\n".join([f"levelling on the {scenes} scenes: each row's seed-0 run against the same run trained "
                      f"longer ({factors} times its budget, as far as recorded; mean IU gain [interval over "
                      "scenes]) against the yardstick, "
                      "the finest half-width of the chapters' mean-IU verdicts: levelled when the gain's interval "
                      "lies under it, still rising when above it, else too close to call:",
                      *(rows or ["  (none recorded)"]),
                      "the first budget from which every longer step levelled, else the last step's state:",
                      *states])
