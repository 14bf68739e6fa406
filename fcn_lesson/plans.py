"""Training plans as data: which models to train, where each starts, and how; one loop runs them all.

A :class:`Plan` is a sequence of :class:`Stage` s. Each stage names the model
it trains, where its weights start — random, torchvision's ImageNet VGG16, or
an earlier stage (an FCN starts from a classifier by convolutionalization and
from a coarser FCN by :meth:`~fcn_lesson.models.FCN.from_coarser`) — and its
:class:`~fcn_lesson.train.TrainConfig`. The paper's staged path (classifier ->
FCN-32s -> 16s -> 8s), one-stage variants, the scenes' recipes and the
full-scale VOC recipes are all plans, and :func:`run_plan` is the only loop
that trains them.

Each stage's checkpoint carries the fingerprint of everything that made it,
including the fingerprint of the stage it started from, so a change anywhere
upstream (a recipe's learning rate, the data) reaches every stage after it.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from . import folders, surgery
from .models import FCN, Layout
from .registry import MODELS
from .checkpoints import finished_run, read_checkpoint
from .train import TrainConfig, TrainResult, fit, is_main_process, run_fingerprint

__all__ = ["Plan", "Stage", "TrainingData", "run_plan", "start_model"]

STARTS = ("random", "imagenet")


@dataclass(frozen=True)
class Stage:
    """One training run of a plan; its checkpoint is ``<out>/<name>.pt``."""

    name: str
    model: str  # a key of models.MODELS: "classifier", "fcn32s", "fcn16s", "fcn8s", "dilated" or "unet"
    config: TrainConfig
    start: str = "random"  # "random", "imagenet", or the name of an earlier stage
    at_once: bool = False  # FCN-16s/8s: scale pool4/pool3 features as the reference code's at-once FCN-8s does
    learnable_upsampling: bool = False


@dataclass(frozen=True)
class Plan:
    """Stages to train in order, on one backbone layout, and what they train on.

    ``data`` names the data for the module that made the plan (the scenes'
    plans: the :class:`~fcn_lesson.recipe.Recipe` whose scenes they train on),
    so that no caller has to know which plan needs which data.
    """

    name: str
    layout: Layout
    stages: tuple[Stage, ...]
    data: Any = None

    def __post_init__(self):
        seen = set()
        for stage in self.stages:
            if stage.model not in MODELS:
                raise ValueError(f"stage {stage.name}: unknown model {stage.model!r}; use one of {sorted(MODELS)}")
            if stage.start not in STARTS and stage.start not in seen:
                raise ValueError(f"stage {stage.name} starts from {stage.start!r}, which is neither "
                                 f"{' nor '.join(STARTS)} nor an earlier stage of plan {self.name!r}")
            _check_settings(stage)
            seen.add(stage.name)

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ValueError(f"plan {self.name!r} has no stage {name!r}; it has {[s.name for s in self.stages]}")

    def up_to(self, name: str) -> list[Stage]:
        """The stages that ``name`` needs, in training order, ending with ``name`` itself."""
        needed, wanted = [], {name}
        for stage in reversed(self.stages[:self.stages.index(self.stage(name)) + 1]):
            if stage.name in wanted:
                needed.append(stage)
                wanted.add(stage.start)
        return needed[::-1]


def _check_settings(stage: Stage) -> None:
    """Refuse a setting that the stage's model would silently ignore."""
    cls = MODELS[stage.model]
    fcn = issubclass(cls, FCN)
    if stage.learnable_upsampling and not fcn:
        raise ValueError(f"stage {stage.name}: learnable_upsampling is for the FCNs; {stage.model} has no "
                         "bilinear upsamplers to learn")
    if stage.at_once and not (fcn and cls.skips):
        raise ValueError(f"stage {stage.name}: at_once scales the skips of FCN-16s and FCN-8s; "
                         f"{stage.model} has none")
    if stage.model == "classifier" and stage.start != "random":
        raise ValueError(f"stage {stage.name}: a classifier starts from random weights here (the book's "
                         f"stand-in for ImageNet pre-training), not from {stage.start!r}")


@dataclass(frozen=True)
class TrainingData:
    """What a plan trains on: segmentation (train, val) for the FCNs; labelled single objects for a
    classifier stage, if the plan has one. ``description`` says which data, for the fingerprints."""

    train: Dataset
    val: Dataset
    num_classes: int
    description: dict
    objects: tuple[Dataset, Dataset] | None = None
    object_classes: int | None = None


def start_model(stage: Stage, plan: Plan, data: TrainingData, trained: dict[str, TrainResult]) -> nn.Module:
    """The untrained model of ``stage``, with its starting weights (seeded by the stage's config)."""
    torch.manual_seed(stage.config.seed)
    if stage.model == "classifier":
        if data.objects is None:
            raise ValueError(f"stage {stage.name} pre-trains a classifier, but there are no object images")
        return MODELS["classifier"](data.object_classes, backbone=plan.layout)
    cls = MODELS[stage.model]
    parent = trained[stage.start].model if stage.start in trained else None
    if isinstance(parent, FCN):
        return cls.from_coarser(parent, learnable_upsampling=stage.learnable_upsampling, at_once=stage.at_once)
    options = {"learnable_upsampling": stage.learnable_upsampling, "at_once": stage.at_once} \
        if issubclass(cls, FCN) else {}
    model = cls(data.num_classes, backbone=plan.layout, **options)
    if parent is not None:
        surgery.transplant_classifier(model, parent)
    elif stage.start == "imagenet":
        surgery.transplant_vgg16(model, surgery.imagenet_vgg16(required=True)[0])
    return model


def _provenance(parent: TrainResult | None, start: str) -> str | dict:
    """Where a stage's weights start, for its fingerprint: ``start`` itself ("random", "imagenet"), or
    the parent run's fingerprint, marked when the parent's weights were stripped to half precision."""
    if parent is None:
        return start
    if parent.weights_only:
        return {"fingerprint": parent.fingerprint, "weights": "half precision (stripped for shipping)"}
    return parent.fingerprint


def _finished_before_stripping(checkpoint: Path, model: nn.Module, stage: Stage, data: TrainingData,
                               trained: dict[str, TrainResult]) -> TrainResult | None:
    """The finished run in ``checkpoint`` if it started from its parent's full weights, the parent having
    been stripped since (``train --weights-only`` strips a plan's stages after all of them are trained)."""
    parent = trained.get(stage.start)
    if parent is None or not parent.weights_only:
        return None
    return _finished_elsewhere(checkpoint, model, stage.config, {"data": data.description,
                                                                 "from": parent.fingerprint})


def _finished_elsewhere(checkpoint: Path, model: nn.Module, config, origin: dict) -> TrainResult | None:
    """The run in ``checkpoint`` if it is this stage's, finished; None if there is none or it is another."""
    state = finished_run(checkpoint)
    if state is None or state["fingerprint"] != run_fingerprint(model, config, origin, _processes()):
        return None
    return TrainResult.load(checkpoint)


def _drop_stale(checkpoint: Path, model: nn.Module, config: TrainConfig, origin: dict) -> None:
    """In the chapters' cache (``retrain``), remove a checkpoint that another run made (an older recipe,
    other data, a damaged file), so that the stage is trained anew; elsewhere ``fit`` refuses it."""
    try:
        stale = read_checkpoint(checkpoint)["fingerprint"] != run_fingerprint(model, config, origin, _processes())
    except FileNotFoundError:  # none there (or another process of the job removed it first)
        return
    except ValueError:
        stale = True
    if stale:
        checkpoint.unlink(missing_ok=True)


def _processes() -> int:
    """How many processes train together (``torchrun`` sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def run_plan(plan: Plan, data: TrainingData, out: str | Path, *, until: str | None = None, retrain: bool = False,
             reuse: str | Path | None = None, device=None, num_workers: int = 0,
             progress: bool = True) -> dict[str, TrainResult]:
    """Train the stages of ``plan`` (those ``until`` needs, or all) into ``out``; one result per stage.

    A stage whose checkpoint holds a finished run of the same fingerprint is
    loaded, an unfinished one resumed. A checkpoint made by another run is
    refused (``ValueError`` naming what changed), or with ``retrain`` (the
    chapters' cache) trained anew over it. ``out`` is claimed for ``train``
    (see :mod:`fcn_lesson.folders`) and locked while training, by rank 0 of a
    ``torchrun`` job alone: a second training there fails at once, or in the
    chapters' cache waits for the first and loads what it trained. A stage that
    ``out`` does not hold but the folder ``reuse`` holds finished, made by this
    same run, is loaded from there (read, never written): how the ``seeds`` plan
    starts from the shipped classifier.
    """
    # only rank 0 writes (the stamp, checkpoints): two ranks claiming at once would race on the stamp
    out = folders.claim(out, "train") if is_main_process() else Path(out)
    stages = plan.up_to(until) if until is not None else list(plan.stages)
    trained: dict[str, TrainResult] = {}
    with folders.lock(out, "training", wait=retrain) if is_main_process() else nullcontext():  # for all ranks
        for stage in stages:
            model = start_model(stage, plan, data, trained)
            origin = {"data": data.description, "from": _provenance(trained.get(stage.start), stage.start)}
            train_set, val_set = data.objects if stage.model == "classifier" else (data.train, data.val)
            if progress and is_main_process():
                print(f"-- {stage.name} ({stage.model}, from {stage.start}) --", flush=True)
            checkpoint = out / f"{stage.name}.pt"
            if retrain:
                _drop_stale(checkpoint, model, stage.config, origin)
            before = _finished_before_stripping(checkpoint, model, stage, data, trained)
            if before is not None:
                trained[stage.name] = before
                if progress and is_main_process():
                    print(f"{stage.name}.pt: finished before {stage.start}.pt was stripped, loaded", flush=True)
                continue
            if reuse is not None and not checkpoint.exists():
                elsewhere = _finished_elsewhere(Path(reuse) / checkpoint.name, model, stage.config, origin)
                if elsewhere is not None:
                    trained[stage.name] = elsewhere
                    if progress and is_main_process():
                        print(f"{stage.name}.pt: finished in {reuse}, loaded from there", flush=True)
                    continue
            trained[stage.name] = fit(model, train_set, stage.config, val_data=val_set,
                                      num_classes=None if stage.model == "classifier" else data.num_classes,
                                      checkpoint=checkpoint, origin=origin,
                                      device=device, num_workers=num_workers, progress=progress)
    return trained
