"""The training recipe: how large, how long, and the staged path classifier -> 32s -> 16s -> 8s.

Three scales of one recipe: ``cpu`` (what the book build runs, minutes on two
cores), ``gpu`` (the same, longer and larger, picked when CUDA is there), and
``quick`` (seconds, for the tests). Quick mode is switched on by the
environment variable ``FCN_LESSON_QUICK=1``, read here and nowhere else.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import Dataset

from . import data, surgery
from .models import FCN, FCN8s, FCN16s, FCN32s, MINI, Layout, VGGClassifier
from .train import fit, load_checkpoint, pick_device

__all__ = ["QUICK", "RECIPES", "REFERENCE_DIR", "REFERENCE_MODELS", "Recipe", "ShapeCrops", "cache_dir", "default_recipe",
           "load_reference", "load_trained", "scene_datasets", "train_alternative", "train_classifier", "train_fcn",
           "train_staged"]

#: Tests set FCN_LESSON_QUICK=1: every schedule shrinks to a few seconds.
QUICK = os.environ.get("FCN_LESSON_QUICK", "") not in ("", "0")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how the book's models are trained."""

    name: str
    dataset: str = "shapes"      # folder name of the generated scenes (see data.default_root)
    layout: Layout = MINI
    scene_size: int = 128
    train_scenes: int = 1200
    val_scenes: int = 300
    crops: int = 4000            # pre-training images (single objects)
    classifier_epochs: int = 4
    fcn32_epochs: int = 5
    fcn16_epochs: int = 5
    fcn8_epochs: int = 15
    batch_size: int = 8
    classifier_lr: float = 1e-3
    lr: float = 3e-3             # Adam, for each FCN stage
    schedule: str = "poly"       # of each FCN stage's learning rate
    seed: int = 0


CPU = Recipe("cpu")
GPU = replace(CPU, name="gpu", crops=12000, classifier_epochs=8, fcn32_epochs=15, fcn16_epochs=15,
              fcn8_epochs=30)
QUICK_RECIPE = replace(CPU, name="quick", dataset="shapes-quick", train_scenes=16, val_scenes=8, crops=32, classifier_epochs=1,
                       fcn32_epochs=1, fcn16_epochs=1, fcn8_epochs=1, batch_size=8)
#: The recipes by name, as the command line and the benchmark offer them.
RECIPES = {recipe.name: recipe for recipe in (CPU, GPU, QUICK_RECIPE)}


def cache_dir(recipe: Recipe) -> Path:
    """Where the chapters keep the models they train, one folder per recipe, beside the scenes."""
    return data.default_root(f"checkpoints-{recipe.name}")


def default_recipe(device: str | torch.device | None = None) -> Recipe:
    """Quick under FCN_LESSON_QUICK=1, else the GPU scale on CUDA, else the CPU scale."""
    if QUICK:
        return QUICK_RECIPE
    return GPU if pick_device(device).type == "cuda" else CPU


class ShapeCrops(Dataset):
    """Single-object images and their shape, normalised like the scenes; flipped when training."""

    def __init__(self, count: int, size: int, seed: int, train: bool = True):
        self.images, self.labels = data.shape_crops(count, size, seed)
        self.train = train
        self.mean = torch.tensor(data.IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(data.IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = (self.images[index].float() / 255 - self.mean) / self.std
        if self.train and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, self.labels[index]


def train_classifier(recipe: Recipe, *, checkpoint: Path | None = None, device=None,
                     progress: bool = True) -> tuple[VGGClassifier, list[dict]]:
    """Pre-train the VGG-layout classifier on shape crops (the book's ImageNet)."""
    size = recipe.layout.native_size
    torch.manual_seed(recipe.seed)  # the initial weights too: the same recipe gives the same classifier
    model = VGGClassifier(len(data.CLASSES) - 1, backbone=recipe.layout)
    history = fit(model, ShapeCrops(recipe.crops, size, recipe.seed), epochs=recipe.classifier_epochs,
                  batch_size=recipe.batch_size, lr=recipe.classifier_lr, seed=recipe.seed, device=device,
                  val_data=ShapeCrops(max(recipe.crops // 10, 8), size, recipe.seed + 1, train=False),
                  checkpoint=checkpoint, progress=progress)
    return model, history


def scene_datasets(recipe: Recipe, root: Path | None = None):
    """(train, val) scene datasets, generating the scenes on first use."""
    root = data.make_dataset(root or data.default_root(recipe.dataset), train=recipe.train_scenes, val=recipe.val_scenes,
                             size=recipe.scene_size, seed=recipe.seed)
    return data.voc_dataset(root, "train"), data.voc_dataset(root, "val")


def train_fcn(model: FCN, recipe: Recipe, epochs: int, *, root: Path | None = None,
              checkpoint: Path | None = None, device=None, progress: bool = True, **options) -> list[dict]:
    """Train one FCN on the scenes, scoring it on the val split after every epoch."""
    train_set, val_set = scene_datasets(recipe, root)
    return fit(model, train_set, epochs=epochs, batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed,
               schedule=recipe.schedule,
               val_data=val_set, num_classes=len(data.CLASSES), device=device, checkpoint=checkpoint,
               progress=progress, **options)


def train_staged(recipe: Recipe, out: Path, *, root: Path | None = None, device=None,
                 progress: bool = True) -> dict[str, dict]:
    """Classifier -> FCN-32s -> FCN-16s -> FCN-8s, each stage starting from the last.

    Each stage writes ``out/<stage>.pt``; a stage whose checkpoint has all its
    epochs is loaded instead of retrained, so an interrupted run picks up
    where it stopped. Returns, per stage, the model, its history and its
    training seconds.
    """
    out = Path(out)
    results = {}
    began = time.perf_counter()
    classifier, history = train_classifier(recipe, checkpoint=out / "classifier.pt", device=device,
                                           progress=progress)
    results["classifier"] = {"model": classifier, "history": history, "seconds": time.perf_counter() - began}
    coarser = None
    for name, cls, epochs in (("fcn32s", FCN32s, recipe.fcn32_epochs), ("fcn16s", FCN16s, recipe.fcn16_epochs),
                              ("fcn8s", FCN8s, recipe.fcn8_epochs)):
        began = time.perf_counter()
        if coarser is None:
            model = surgery.transplant_classifier(FCN32s(len(data.CLASSES), backbone=recipe.layout), classifier)
        else:
            model = cls.from_coarser(coarser)
        history = train_fcn(model, recipe, epochs, root=root, checkpoint=out / f"{name}.pt", device=device,
                            progress=progress)
        results[name] = {"model": model, "history": history, "seconds": time.perf_counter() - began}
        coarser = model
    return results


def train_alternative(recipe: Recipe, out: Path, how: str, *, classifier: VGGClassifier | None = None,
                      root: Path | None = None, device=None, progress: bool = True) -> dict:
    """FCN-8s trained in one stage for as many epochs as the staged path's three stages together.

    ``how`` is "at_once" (from the pre-trained classifier, pool4 and pool3
    features scaled by 0.01 and 0.0001, as in the journal paper) or "scratch"
    (no pre-training at all). Written to ``out/fcn8s_<how>.pt``.
    """
    if how not in ("at_once", "scratch"):
        raise ValueError(f"how must be 'at_once' or 'scratch', got {how!r}")
    began = time.perf_counter()
    torch.manual_seed(recipe.seed)
    model = FCN8s(len(data.CLASSES), backbone=recipe.layout, at_once=how == "at_once")
    if how == "at_once":
        if classifier is None:
            classifier, _ = train_classifier(recipe, checkpoint=Path(out) / "classifier.pt", device=device,
                                             progress=progress)
        surgery.transplant_classifier(model, classifier)
    epochs = recipe.fcn32_epochs + recipe.fcn16_epochs + recipe.fcn8_epochs
    history = train_fcn(model, recipe, epochs, root=root, checkpoint=Path(out) / f"fcn8s_{how}.pt",
                        device=device, progress=progress)
    return {"model": model, "history": history, "seconds": time.perf_counter() - began}


def load_trained(cls: type[FCN], path: Path, layout: Layout = MINI) -> FCN:
    """An FCN of the book's classes loaded from a checkpoint written by :func:`train_staged`."""
    model = cls(len(data.CLASSES), backbone=layout)
    load_checkpoint(path, model)
    return model.eval()


#: The CPU recipe's models, trained to the end and shipped with the module, made by
#: ``python -m fcn_lesson train --scale cpu --compare --weights-only --out fcn_lesson/reference``
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
REFERENCE_MODELS = {"fcn32s": (FCN32s, False), "fcn16s": (FCN16s, False), "fcn8s": (FCN8s, False),
                    "fcn8s_at_once": (FCN8s, True), "fcn8s_scratch": (FCN8s, False)}


def load_reference(name: str) -> tuple[FCN, list[dict]]:
    """A shipped reference model and its training history (one dict per epoch, with its seconds)."""
    if name not in REFERENCE_MODELS:
        raise ValueError(f"no reference model {name!r}; there are {sorted(REFERENCE_MODELS)}")
    cls, at_once = REFERENCE_MODELS[name]
    model = cls(len(data.CLASSES), backbone=CPU.layout, at_once=at_once)
    state = load_checkpoint(REFERENCE_DIR / f"{name}.pt", model)
    return model.eval(), state["history"]
