"""Full scale: FCN-32s -> 16s -> 8s on PASCAL VOC (+ SBD) from torchvision's ImageNet VGG16.

Two schedules. ``PAPER`` is the authors' released recipe: one image per
step at its own size, the loss *summed* over pixels, SGD with momentum 0.99
and the tiny learning rates that a summed loss needs (1e-10, then 1e-12 and
1e-14 for the finer stages), 100k iterations a stage. ``MODERN`` is what one
would write today: batches of fixed-size random crops, the loss averaged over
pixels, Adam with a falling learning rate, mixed precision on CUDA. The same
code runs at smoke scale on the book's scenes (any VOC-layout root).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset, Subset

from . import data, surgery
from .models import FCN8s, FCN16s, FCN32s
from .train import fit

__all__ = ["MODERN", "PAPER", "SCHEDULES", "Schedule", "train_voc", "voc_sets"]

STAGES = (("fcn32s", FCN32s), ("fcn16s", FCN16s), ("fcn8s", FCN8s))


@dataclass(frozen=True)
class Schedule:
    """How each of the three stages is trained at full scale."""

    name: str
    batch_size: int
    loss: str                           # "sum" or "mean" over the pixels of a batch
    optimizer: str                      # "sgd" or "adam"
    lrs: tuple[float, float, float]     # FCN-32s, FCN-16s, FCN-8s
    iterations: tuple[int, int, int]    # optimizer steps per stage
    momentum: float = 0.9
    weight_decay: float = 0.0
    crop: int | None = None             # random crops of this side, so images can be batched
    schedule: str = "constant"          # or "poly"
    amp: bool = False                   # mixed precision (CUDA only)

    def epochs(self, stage: int, train_images: int, iterations: int | None = None) -> int:
        """Passes over ``train_images`` images that give a stage at least its iterations (or ``iterations``)."""
        return max(1, math.ceil((iterations or self.iterations[stage]) * self.batch_size / train_images))


PAPER = Schedule("paper", batch_size=1, loss="sum", optimizer="sgd", lrs=(1e-10, 1e-12, 1e-14),
                 iterations=(100_000, 100_000, 100_000), momentum=0.99, weight_decay=5e-4)
MODERN = Schedule("modern", batch_size=16, loss="mean", optimizer="adam", lrs=(1e-4, 3e-5, 1e-5),
                  iterations=(8_000, 4_000, 4_000), crop=320, schedule="poly", amp=True)
SCHEDULES = {schedule.name: schedule for schedule in (PAPER, MODERN)}


def _stem(path: str) -> str:
    return Path(path).stem


def voc_sets(voc_root: str | Path, *, sbd_root: str | Path | None = None, crop: int | None = None,
             download: bool = False, limit: int | None = None) -> tuple[Dataset, Dataset]:
    """(train, val): VOC2012 train plus, with ``sbd_root``, SBD's ``train_noval`` images VOC train lacks;
    VOC2012 val for validation. ``limit`` keeps the first images of each (smoke runs)."""
    train = data.voc_dataset(voc_root, "train", crop=crop, download=download)
    val = data.voc_dataset(voc_root, "val", download=download)
    if sbd_root is not None:
        sbd = data.sbd_dataset(sbd_root, "train_noval", crop=crop, download=download)
        known = {_stem(train.files(i)[0]) for i in range(len(train))}
        extra = [i for i in range(len(sbd)) if _stem(sbd.files(i)[0]) not in known]
        train = ConcatDataset([train, Subset(sbd, extra)])
    if limit is not None:
        train, val = Subset(train, range(min(limit, len(train)))), Subset(val, range(min(limit, len(val))))
    return train, val


def train_voc(schedule: Schedule, out: str | Path, voc_root: str | Path, *, sbd_root: str | Path | None = None,
              backbone: str = "vgg16", pretrained: bool = True, iterations: int | None = None,
              limit: int | None = None, num_workers: int = 4, download: bool = False, device=None,
              progress: bool = True) -> dict[str, dict]:
    """Train FCN-32s, then FCN-16s and FCN-8s from it, writing ``out/<stage>.pt`` (resumable).

    ``pretrained`` transplants torchvision's ImageNet VGG16 (``backbone="vgg16"``
    only; offline it raises a ``ConnectionError`` saying how to get the
    weights). ``iterations`` replaces the schedule's steps per stage and
    ``limit`` the number of images, for smoke runs. Validation scores full
    images one at a time, as they differ in size.
    """
    if pretrained and backbone != "vgg16":
        raise ValueError(f"ImageNet weights exist for backbone='vgg16' only, not {backbone!r}; "
                         "pass pretrained=False to start that backbone from random weights")
    train_set, val_set = voc_sets(voc_root, sbd_root=sbd_root, crop=schedule.crop, download=download, limit=limit)
    num_classes = (val_set.dataset if isinstance(val_set, Subset) else val_set).num_classes
    out = Path(out)
    results, coarser = {}, None
    for index, (name, cls) in enumerate(STAGES):
        began = time.perf_counter()
        if coarser is None:
            model = cls(num_classes, backbone=backbone)
            if pretrained:
                surgery.transplant_vgg16(model, surgery.imagenet_vgg16(required=True)[0])
        else:
            model = cls.from_coarser(coarser)
        history = fit(model, train_set, epochs=schedule.epochs(index, len(train_set), iterations),
                      batch_size=schedule.batch_size, lr=schedule.lrs[index],
                      optimizer=schedule.optimizer, momentum=schedule.momentum,
                      weight_decay=schedule.weight_decay, loss=schedule.loss, schedule=schedule.schedule,
                      amp=None if schedule.amp else False, val_data=val_set, val_batch_size=1, num_classes=num_classes,
                      device=device, checkpoint=out / f"{name}.pt", num_workers=num_workers, progress=progress)
        results[name] = {"model": model, "history": history, "seconds": time.perf_counter() - began}
        coarser = model
    return results
