"""The trained models that ship with the module: the CPU recipe's ablation, after and imbalance plans.

Chapters 3 and 5 to 9 use them instead of training for two hours (6, 7 and 9 read
their scores, stored scene by scene: :mod:`fcn_lesson.evidence`). They were
made by ``python -m fcn_lesson train --recipe cpu --precision bfloat16 --plan
PLAN --weights-only --out fcn_lesson/reference`` for each of
:data:`REFERENCE_PLANS` (weights in half precision), and a test checks that
the same commands find every one of them finished.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType

from .checkpoints import read_checkpoint
from .plans import Stage
from .recipe import CPU
from .train import TrainResult

__all__ = ["REFERENCE_DIR", "REFERENCE_PLANS", "REFERENCE_RECIPE", "RESULT_PLANS", "load_reference",
           "pre_trained_by", "planned_stages", "reference_stages", "start_weights"]

#: Where the shipped checkpoints are.
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
#: The recipe the reference models were trained with.
REFERENCE_RECIPE = CPU.with_precision("bfloat16")
#: The plans whose stages are shipped (chapters 7 and 9 score them).
REFERENCE_PLANS = ("ablation", "after", "imbalance")
#: The plans ``results --plan`` reports: those, and ``longer``, the longer runs (``longer``,
#: ``rare_longer``, ``longest``, ``rare_longest``, ``furthest``, ``rare_furthest``, ``beyond`` and
#: ``rare_beyond``), whose results ship
#: without their weights, as do
#: those of the FCN seeds (``seeds``, ``rare_seeds``).
RESULT_PLANS = (*REFERENCE_PLANS, "longer")


def load_reference(name: str) -> TrainResult:
    """A shipped reference model (a stage of one of :data:`REFERENCE_PLANS` of :data:`REFERENCE_RECIPE`)
    with its history."""
    return TrainResult.load(_shipped(name))


def reference_stages() -> dict:
    """Every shipped stage by name (the stages of :data:`REFERENCE_PLANS` of :data:`REFERENCE_RECIPE`),
    in plan order."""
    return {name: stage for plan in REFERENCE_PLANS for name, stage in planned_stages(plan).items()}


@cache
def planned_stages(plan: str) -> Mapping[str, Stage]:
    """The stages of :data:`REFERENCE_RECIPE`'s ``plan`` by name, in order: built once and read-only, as
    the evidence layer asks for them arm by arm."""
    return MappingProxyType({stage.name: stage for stage in REFERENCE_RECIPE.plan(plan).stages})


def pre_trained_by() -> dict[str, list[str]]:
    """The shipped models that are not classifiers, grouped by the shipped classifier whose weights they
    start from, found by following each stage's ``start`` back through the stages it continues; a model
    trained from random weights is grouped under ``"random"``."""
    stages = reference_stages()
    groups: dict[str, list[str]] = {}
    for name, stage in stages.items():
        if stage.model == "classifier":
            continue
        origin = stage
        while origin.model != "classifier" and origin.start in stages:
            origin = stages[origin.start]
        groups.setdefault(origin.name if origin.model == "classifier" else origin.start, []).append(name)
    return groups


def start_weights(name: str) -> str:
    """What the shipped model ``name``'s run started from, as its checkpoint records it: "random",
    "full precision" (its parent's weights as they trained) or "half precision" (its parent as shipped).
    Runs the chapters pair can differ in this: they say which started how."""
    start = read_checkpoint(_shipped(name))["origin"]["from"]
    if start == "random":
        return "random"
    return "half precision" if isinstance(start, dict) and "half precision" in start["weights"] else "full precision"


def _shipped(name: str) -> Path:
    """The checkpoint of the shipped model ``name``; a name no plan ships is refused, naming those that are."""
    names = list(reference_stages())
    if name not in names:
        raise ValueError(f"no reference model {name!r}; there are {names}")
    return REFERENCE_DIR / f"{name}.pt"
