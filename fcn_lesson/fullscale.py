"""Full scale: FCN-32s -> 16s -> 8s on PASCAL VOC (+ SBD) from torchvision's ImageNet VGG16.

Two recipes. ``PAPER`` is the authors' released one: one image per step at
its own size, the loss *summed* over pixels, SGD with momentum 0.99 and the
tiny learning rates that a summed loss needs (1e-10, then 1e-12 and 1e-14 for
the finer stages), 100k steps a stage. ``MODERN`` is what one would write
today: batches of fixed-size random patches, the loss averaged over pixels,
Adam with a falling learning rate, mixed precision. Both are plans
run by :func:`fcn_lesson.plans.run_plan`; the same code runs at smoke scale
on the book's scenes (any VOC-layout root).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset, Subset

from . import data
from .models import LAYOUTS
from .plans import Plan, Stage, TrainingData, run_plan
from .train import TrainConfig, TrainResult, main_process_first

__all__ = ["MODERN", "PAPER", "RECIPES", "VOCRecipe", "train_voc", "voc_sets"]


@dataclass(frozen=True)
class VOCRecipe:
    """How each of the three stages is trained at full scale."""

    name: str
    batch_size: int
    loss: str                           # "sum" or "mean" over the pixels of a batch
    optimizer: str                      # "sgd" or "adam"
    lrs: tuple[float, float, float]     # FCN-32s, FCN-16s, FCN-8s
    steps: tuple[int, int, int]         # optimizer steps per stage
    momentum: float = 0.9
    weight_decay: float = 0.0
    patch_size: int | None = None       # random patches of this side, so images can be batched
    lr_schedule: str = "constant"       # or "poly"
    precision: str = "float32"          # or "auto": mixed precision where the device has it

    def plan(self, *, backbone: str = "vgg16", pretrained: bool = True, steps: int | None = None) -> Plan:
        """FCN-32s (from ImageNet VGG16, or random weights), then FCN-16s and FCN-8s from it.

        ``steps`` replaces every stage's steps (smoke runs).
        """
        if pretrained and backbone != "vgg16":
            raise ValueError(f"ImageNet weights exist for backbone='vgg16' only, not {backbone!r}; "
                             "start that backbone from random weights (pretrained=False, --random-init)")
        if backbone not in LAYOUTS:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(LAYOUTS)}")
        starts = ("imagenet" if pretrained else "random", "fcn32s", "fcn16s")
        stages = tuple(
            Stage(name, name, TrainConfig(steps=stage_steps if steps is None else steps, batch_size=self.batch_size,
                                          optimizer=self.optimizer, lr=lr, momentum=self.momentum,
                                          weight_decay=self.weight_decay, lr_schedule=self.lr_schedule,
                                          loss=self.loss, precision=self.precision), start=start)
            for name, lr, stage_steps, start in zip(("fcn32s", "fcn16s", "fcn8s"), self.lrs, self.steps, starts))
        return Plan(self.name, LAYOUTS[backbone], stages)


PAPER = VOCRecipe("paper", batch_size=1, loss="sum", optimizer="sgd", lrs=(1e-10, 1e-12, 1e-14),
                  steps=(100_000, 100_000, 100_000), momentum=0.99, weight_decay=5e-4)
MODERN = VOCRecipe("modern", batch_size=16, loss="mean", optimizer="adam", lrs=(1e-4, 3e-5, 1e-5),
                   steps=(8_000, 4_000, 4_000), patch_size=320, lr_schedule="poly", precision="auto")
#: The full-scale recipes by name, as the command line offers them.
RECIPES = {recipe.name: recipe for recipe in (PAPER, MODERN)}


def _stem(path: str) -> str:
    return Path(path).stem


def voc_sets(voc_root: str | Path, *, sbd_root: str | Path | None = None, patch_size: int | None = None,
             download: bool = False, limit: int | None = None) -> tuple[Dataset, Dataset]:
    """(train, val): VOC2012 train plus, with ``sbd_root``, SBD's ``train_noval`` images VOC train lacks;
    VOC2012 val for validation. ``limit`` keeps the first images of each (smoke runs)."""
    train = data.voc_dataset(voc_root, "train", patch_size=patch_size, download=download)
    val = data.voc_dataset(voc_root, "val", download=download)
    if sbd_root is not None:
        sbd = data.sbd_dataset(sbd_root, "train_noval", patch_size=patch_size, download=download)
        known = {_stem(train.files(i)[0]) for i in range(len(train))}
        extra = [i for i in range(len(sbd)) if _stem(sbd.files(i)[0]) not in known]
        train = ConcatDataset([train, Subset(sbd, extra)])
    if limit is not None:
        train, val = Subset(train, range(min(limit, len(train)))), Subset(val, range(min(limit, len(val))))
    return train, val


def train_voc(recipe: VOCRecipe, out: str | Path, voc_root: str | Path, *, sbd_root: str | Path | None = None,
              backbone: str = "vgg16", pretrained: bool = True, steps: int | None = None,
              limit: int | None = None, num_workers: int = 4, download: bool = False, device=None,
              progress: bool = True) -> dict[str, TrainResult]:
    """Train FCN-32s, then FCN-16s and FCN-8s from it, writing ``out/<stage>.pt`` (resumable).

    ``pretrained`` transplants torchvision's ImageNet VGG16 (``backbone="vgg16"``
    only; offline it raises a ``ConnectionError`` saying how to get the
    weights). ``steps`` replaces the recipe's steps per stage and ``limit``
    the number of images, for smoke runs. Validation scores full images,
    one at a time where their sizes differ.
    """
    plan = recipe.plan(backbone=backbone, pretrained=pretrained, steps=steps)
    with main_process_first(device):  # under torchrun, one process downloads
        train_set, val_set = voc_sets(voc_root, sbd_root=sbd_root, patch_size=recipe.patch_size,
                                      download=download, limit=limit)
    num_classes = (val_set.dataset if isinstance(val_set, Subset) else val_set).num_classes
    description = {"voc": "VOC2012" + (" + SBD" if sbd_root else ""), "train": len(train_set),
                   "val": len(val_set), "patch_size": recipe.patch_size}
    return run_plan(plan, TrainingData(train_set, val_set, num_classes, description), out,
                    device=device, num_workers=num_workers, progress=progress)
