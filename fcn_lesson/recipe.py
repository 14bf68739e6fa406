"""The book's recipes on its scenes: how large the data, how long each model trains, and the plans.

Three scales of one recipe: ``cpu`` (what the book build runs, minutes on two
cores), ``gpu`` (the same, longer and larger, picked when CUDA is there), and
``quick`` (seconds, for the tests). Quick mode is switched on by the
environment variable ``FCN_LESSON_QUICK=1``, read by :func:`quick_mode` and
nowhere else. Each recipe offers two plans: ``staged`` (classifier ->
FCN-32s -> 16s -> 8s, the paper's path) and ``compare`` (the staged path,
plus FCN-8s trained in one stage at once and from scratch, as long as the
three FCN stages together).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import torch
from torch.utils.data import Dataset

from . import data
from .models import MINI, Layout
from .plans import Plan, Stage, TrainingData, run_plan
from .train import TrainConfig, TrainResult, pick_device

__all__ = ["CPU", "GPU", "PLANS", "QUICK", "RECIPES", "REFERENCE_DIR", "REFERENCE_RECIPE", "ObjectImages", "Recipe", "cache_dir",
           "default_recipe", "load_reference", "quick_mode", "scene_datasets", "train", "training_data"]

#: The plans every recipe offers (see :meth:`Recipe.plan`).
PLANS = ("staged", "compare")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what the book trains on its scenes, and for how long."""

    name: str
    dataset: str = "shapes"        # folder name of the generated scenes (see data.default_root)
    layout: Layout = MINI
    scene_size: int = 128
    train_scenes: int = 1200
    val_scenes: int = 300
    pretraining_images: int = 4000  # single objects the classifier learns from
    classifier_epochs: int = 4
    fcn32_epochs: int = 5
    fcn16_epochs: int = 5
    fcn8_epochs: int = 15
    batch_size: int = 8
    classifier_lr: float = 1e-3     # Adam, constant
    lr: float = 3e-3                # Adam, poly, for each FCN stage
    precision: str = "auto"         # bfloat16 where the device computes it natively (train.mixed_precision)
    seed: int = 0

    def fcn_config(self, epochs: int) -> TrainConfig:
        """How each FCN stage trains: Adam with a poly-decaying learning rate, mean loss."""
        return TrainConfig(epochs=epochs, batch_size=self.batch_size, lr=self.lr, lr_schedule="poly",
                           precision=self.precision, seed=self.seed)

    def plan(self, name: str = "staged") -> Plan:
        """The ``staged`` plan, or ``compare``: staged, plus FCN-8s at once and from scratch."""
        if name not in PLANS:
            raise ValueError(f"no plan {name!r}; the scenes' plans are {', '.join(PLANS)}")
        classifier = TrainConfig(epochs=self.classifier_epochs, batch_size=self.batch_size,
                                 lr=self.classifier_lr, precision=self.precision, seed=self.seed)
        stages = [Stage("classifier", "classifier", classifier),
                  Stage("fcn32s", "fcn32s", self.fcn_config(self.fcn32_epochs), start="classifier"),
                  Stage("fcn16s", "fcn16s", self.fcn_config(self.fcn16_epochs), start="fcn32s"),
                  Stage("fcn8s", "fcn8s", self.fcn_config(self.fcn8_epochs), start="fcn16s")]
        if name == "compare":
            one_stage = self.fcn_config(self.fcn32_epochs + self.fcn16_epochs + self.fcn8_epochs)
            stages += [Stage("fcn8s_at_once", "fcn8s", one_stage, start="classifier", at_once=True),
                       Stage("fcn8s_scratch", "fcn8s", one_stage, start="random")]
        return Plan(name, self.layout, tuple(stages))


CPU = Recipe("cpu")
GPU = replace(CPU, name="gpu", pretraining_images=12000, classifier_epochs=8, fcn32_epochs=15,
              fcn16_epochs=15, fcn8_epochs=30)
QUICK = replace(CPU, name="quick", dataset="shapes-quick", train_scenes=16, val_scenes=8, pretraining_images=32,
                classifier_epochs=1, fcn32_epochs=1, fcn16_epochs=1, fcn8_epochs=1)
#: The recipes by name, as the command line and the benchmark offer them.
RECIPES = {recipe.name: recipe for recipe in (CPU, GPU, QUICK)}


def quick_mode() -> bool:
    """True when ``FCN_LESSON_QUICK`` is set (the tests set it): every schedule shrinks to seconds."""
    return os.environ.get("FCN_LESSON_QUICK", "") not in ("", "0")


def default_recipe(device: str | torch.device | None = None) -> Recipe:
    """Quick in quick mode, else the GPU scale on CUDA, else the CPU scale."""
    if quick_mode():
        return QUICK
    return GPU if pick_device(device).type == "cuda" else CPU


def cache_dir(recipe: Recipe) -> Path:
    """Where the chapters keep the models they train, one folder per recipe, beside the scenes."""
    return data.default_root(f"checkpoints-{recipe.name}")


class ObjectImages(Dataset):
    """Single-object images and their shape, normalised like the scenes; flipped when training.

    The images are drawn on first use, so a dataset whose model is already
    trained costs nothing.
    """

    def __init__(self, count: int, size: int, seed: int, train: bool = True):
        self.count, self.size, self.seed, self.train = count, size, seed, train
        self.mean = torch.tensor(data.IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(data.IMAGENET_STD).view(3, 1, 1)

    @property
    def description(self) -> dict:
        return {"objects": self.count, "size": self.size, "seed": self.seed}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        images, labels = _drawn_objects(self.count, self.size, self.seed)
        image = (images[index].float() / 255 - self.mean) / self.std
        if self.train and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, labels[index]


@cache
def _drawn_objects(count: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return data.object_images(count, size, seed)


def scene_datasets(recipe: Recipe, root: Path | None = None):
    """(train, val) scene datasets, generating the scenes on first use; each scene is decoded once."""
    root = data.make_dataset(root or data.default_root(recipe.dataset), train=recipe.train_scenes,
                             val=recipe.val_scenes, size=recipe.scene_size, seed=recipe.seed)
    return data.voc_dataset(root, "train", keep_decoded=True), data.voc_dataset(root, "val", keep_decoded=True)


def training_data(recipe: Recipe, root: Path | None = None) -> TrainingData:
    """The scenes and the pre-training objects of ``recipe``, ready for :func:`plans.run_plan`."""
    train_set, val_set = scene_datasets(recipe, root)
    size = recipe.layout.native_size
    objects = (ObjectImages(recipe.pretraining_images, size, recipe.seed),
               ObjectImages(max(recipe.pretraining_images // 10, 8), size, recipe.seed + 1, train=False))
    description = {"scenes": {"train": recipe.train_scenes, "val": recipe.val_scenes, "size": recipe.scene_size,
                              "seed": recipe.seed, "format": data.SCENES_FORMAT},
                   "objects": objects[0].description}
    return TrainingData(train_set, val_set, len(data.CLASSES), description, objects, len(data.CLASSES) - 1)


def train(recipe: Recipe, plan: str = "staged", *, until: str | None = None, out: Path | None = None,
          root: Path | None = None, device=None, progress: bool = True) -> dict[str, TrainResult]:
    """Run ``recipe``'s plan (up to the stage ``until``) on the scenes; one result per stage.

    Without ``out``, the models go to the chapters' cache (:func:`cache_dir`),
    where a model made by a different recipe is trained anew; with ``out``,
    a checkpoint made by another run is refused.
    """
    return run_plan(recipe.plan(plan), training_data(recipe, root), out or cache_dir(recipe), until=until,
                    retrain=out is None, device=device, progress=progress)


#: The CPU recipe's models, trained to the end in float32 and shipped with the module, made by
#: ``python -m fcn_lesson train --recipe cpu --precision float32 --plan compare --weights-only
#: --out fcn_lesson/reference``
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
#: The recipe the reference models were trained with.
REFERENCE_RECIPE = replace(CPU, precision="float32")


def load_reference(name: str) -> TrainResult:
    """A shipped reference model (a stage of :data:`REFERENCE_RECIPE`'s ``compare`` plan) with its history."""
    names = [stage.name for stage in REFERENCE_RECIPE.plan("compare").stages if stage.model != "classifier"]
    if name not in names:
        raise ValueError(f"no reference model {name!r}; there are {names}")
    return TrainResult.load(REFERENCE_DIR / f"{name}.pt")
