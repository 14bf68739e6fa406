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

import json
import math
import os
import textwrap
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

from . import data
from .descendants import count_flops
from .download import seg11valid
from .models import LAYOUTS
from .plans import Plan, Stage, TrainingData, run_plan
from .registry import MODELS
from .train import TrainConfig, TrainResult, main_process_first

__all__ = ["DRIVE", "ESTIMATE_GPU", "GPU_TIMINGS", "MODERN", "PAPER", "RECIPES", "SPLITS", "VOCRecipe",
           "checkpoint_folder", "describe_runs", "iteration_flops", "missing_data_report", "optimizer_steps",
           "stage_steps", "summed_loss", "time_iterations", "timed_images", "train_voc", "training_hours",
           "voc_sets", "wrap_command"]


@dataclass(frozen=True)
class VOCRecipe:
    """How the three stages train at full scale: FCN-32s's :class:`TrainConfig`, and what the finer
    stages change in it (their learning rate and length), applied with :func:`dataclasses.replace`."""

    name: str
    fcn32s: TrainConfig
    finer_lrs: tuple[float, float]      # FCN-16s, FCN-8s
    finer_steps: tuple[int, int]        # optimizer steps, FCN-16s, FCN-8s
    patch_size: int | None = None       # random patches of this side, so images can be batched

    @property
    def configs(self) -> tuple[TrainConfig, TrainConfig, TrainConfig]:
        """The configurations of FCN-32s, FCN-16s and FCN-8s."""
        finer = (replace(self.fcn32s, lr=lr, steps=steps) for lr, steps in zip(self.finer_lrs, self.finer_steps))
        return (self.fcn32s, *finer)

    def settings(self) -> dict:
        """Every setting that is given: one value where the three stages agree, (FCN-32s, 16s, 8s) where
        they differ, "n/a" where the stages' optimiser or schedule ignores it (momentum under Adam, the
        poly power under a constant rate); and the patch size."""
        configs = [asdict(config) for config in self.configs]
        for config in configs:
            if config["optimizer"] != "sgd":
                config["momentum"] = "n/a"
            if config["lr_schedule"] != "poly":
                config["poly_power"] = "n/a"
        merged = {key: configs[0][key] if all(c[key] == configs[0][key] for c in configs)
                  else tuple(c[key] for c in configs) for key in configs[0]}
        return {key: value for key, value in {**merged, "patch_size": self.patch_size}.items()
                if value is not None or key == "patch_size"}

    def with_precision(self, precision: str) -> "VOCRecipe":
        """This recipe with every stage computing in ``precision`` (see :class:`TrainConfig`)."""
        return replace(self, fcn32s=replace(self.fcn32s, precision=precision))

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
        stages = tuple(Stage(name, name, config if steps is None else replace(config, steps=steps), start=start)
                       for name, config, start in zip(("fcn32s", "fcn16s", "fcn8s"), self.configs, starts))
        return Plan(self.name, LAYOUTS[backbone], stages)


PAPER = VOCRecipe("paper", TrainConfig(steps=100_000, batch_size=1, optimizer="sgd", lr=1e-10, momentum=0.99,
                                       weight_decay=5e-4, loss="sum"),
                  finer_lrs=(1e-12, 1e-14), finer_steps=(100_000, 100_000))
MODERN = VOCRecipe("modern", TrainConfig(steps=8_000, batch_size=16, optimizer="adam", lr=1e-4,
                                         lr_schedule="poly", precision="auto"),
                   finer_lrs=(3e-5, 1e-5), finer_steps=(4_000, 4_000), patch_size=320)
#: The full-scale recipes by name, as the command line offers them.
RECIPES = {recipe.name: recipe for recipe in (PAPER, MODERN)}


def timed_images(trains: bool = True) -> tuple[tuple[int, int], ...]:
    """Image sizes (height, width) chapter 8 times an iteration of VGG16 FCN-8s on; the last is a
    typical VOC image. Small ones where the recipe does not train (``Recipe.trains``: the tests)."""
    if not trains:
        return (48, 64), (96, 128)
    return (125, 167), (250, 333), (375, 500)


#: Where Colab mounts Google Drive (``from google.colab import drive; drive.mount("/content/drive")``).
DRIVE = Path("/content/drive/MyDrive")
#: Seconds per iteration of each recipe measured on a GPU by ``benchmarks/gpu_check.sh``; absent until
#: someone has run it, and then the chapter prints it instead of the estimate.
GPU_TIMINGS = Path(__file__).resolve().parent / "gpu_timings.json"
#: The GPU an estimate assumes: an NVIDIA T4 (Colab's free GPU), its datasheet's peak FLOP/s in float32
#: and with float16 tensor cores (mixed precision).
ESTIMATE_GPU = ("NVIDIA T4", {"float32": 8.1e12, "mixed": 65e12})


def checkpoint_folder(name: str = "checkpoints-voc") -> Path:
    """Where full-scale checkpoints go: on Google Drive when it is mounted (Colab), so that the same
    cell resumes after a disconnect; else ``name`` in the working directory."""
    return DRIVE / "fcn_lesson" / name if DRIVE.is_dir() else Path(name)


def iteration_flops(recipe: VOCRecipe, model: str = "fcn8s") -> int:
    """Floating-point operations of one training iteration of VGG16 FCN-8s (or ``model``: "fcn32s",
    "fcn16s") in ``recipe``: three times a forward pass (the backward pass costs about two), over the
    batch, on a 500 x 375 image (the paper's, one at a time at its own size) or on the recipe's patches.
    Counted on the meta device."""
    height, width = (recipe.patch_size,) * 2 if recipe.patch_size else (375, 500)
    fcns = ("fcn32s", "fcn16s", "fcn8s")
    if model not in fcns:
        raise ValueError(f"no FCN {model!r}: use one of {', '.join(fcns)}")
    with torch.device("meta"):
        model = MODELS[model](21, backbone="vgg16")
    return 3 * recipe.fcn32s.batch_size * count_flops(model, height, width)


def optimizer_steps(recipe: VOCRecipe, train_images: int | None = None, *, processes: int = 1) -> int:
    """Optimizer steps of the three stages of ``recipe``: as the recipe gives them, or, with
    ``train_images``, as :func:`fcn_lesson.train.fit` makes them, each stage rounded up to
    whole epochs of ``train_images`` images (the paper's 100,000 on SBD train's 8,498: 12 epochs,
    101,976 steps). ``processes``: under ``torchrun``, ``fit`` counts the epochs from the whole set
    but each epoch's steps from one process's share (``DistributedSampler``: ``ceil(n / processes)``
    images), so each process takes about ``1 / processes`` of the steps."""
    if train_images is None:
        return sum(config.steps for config in recipe.configs)
    return sum(stage_steps(recipe, train_images, processes=processes).values())


def stage_steps(recipe: VOCRecipe, train_images: int, *, steps: int | None = None,
                processes: int = 1) -> dict[str, int]:
    """Optimizer steps each stage of ``recipe`` takes on ``train_images`` images, as
    :func:`fcn_lesson.train.fit` makes them: ``steps`` (the recipe's own when None, as
    :func:`train_voc`'s ``steps`` replaces them) rounded up to whole epochs, an epoch being one
    process's share in batches. Their sum over the stages is :func:`optimizer_steps`'s."""
    share = math.ceil(train_images / processes)
    configs = recipe.configs if steps is None else tuple(replace(c, steps=steps) for c in recipe.configs)
    return {name: config.epochs_for(train_images) * math.ceil(share / config.batch_size)
            for name, config in zip(("fcn32s", "fcn16s", "fcn8s"), configs)}


def time_iterations(model: torch.nn.Module, optimizer: torch.optim.Optimizer, height: int, width: int, *,
                    repeats: int = 3, num_classes: int = 21) -> list[tuple[float, float]]:
    """Seconds of ``repeats`` training iterations of ``model`` on one random ``height x width`` image
    with a summed loss (the paper's): (forward + backward, ``optimizer.step()``) for each, timed apart,
    after a first iteration that is not kept (it allocates memory and picks kernels). Waits for CUDA."""
    device = next(model.parameters()).device
    image = torch.randn(1, 3, height, width, device=device)
    label = torch.randint(0, num_classes, (1, height, width), device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = []
    for kept in [False] + [True] * repeats:
        began = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(image), label, reduction="sum").backward()
        sync()
        stepped = time.perf_counter()
        optimizer.step()
        sync()
        if kept:
            times.append((stepped - began, time.perf_counter() - stepped))
    return times


def training_hours(recipe: VOCRecipe, train_images: int | None = None) -> tuple[float, str]:
    """Hours for the three stages of ``recipe`` on one GPU, and what that figure is.

    The steps are :func:`optimizer_steps`'s: the recipe's own, or, with ``train_images``, rounded up to
    whole epochs as training does.

    Measured seconds per iteration (:data:`GPU_TIMINGS`) when a GPU check has
    run; else an estimate: :func:`iteration_flops` at the peak of
    :data:`ESTIMATE_GPU`, which no real run reaches, so roughly a lower bound (roughly: the backward
    pass is taken as two forward passes, and with fixed upsamplers and no gradient for the input it
    costs a little less).
    """
    steps = optimizer_steps(recipe, train_images)
    if GPU_TIMINGS.is_file():
        measured = json.loads(GPU_TIMINGS.read_text())
        seconds = measured["seconds_per_iteration"][recipe.name]
        return steps * seconds / 3600, f"measured on {measured['device']} ({measured['date']})"
    name, peaks = ESTIMATE_GPU
    precision = "float32" if recipe.fcn32s.precision == "float32" else "mixed"
    seconds = iteration_flops(recipe) / peaks[precision]
    return steps * seconds / 3600, (f"an estimate, not a measurement: FLOPs at the {precision} peak of an "
                                    f"{name} ({peaks[precision] / 1e12:g} TFLOP/s), roughly a lower bound")


def _stem(path: str) -> str:
    return Path(path).stem


#: How the images are split into training and validation (see :func:`voc_sets`).
SPLITS = ("modern", "paper")


def voc_sets(voc_root: str | Path, *, sbd_root: str | Path | None = None, split: str = "modern",
             patch_size: int | None = None, download: bool = False,
             limit: int | None = None) -> tuple[Dataset, Dataset]:
    """(train, val) of PASCAL VOC, with SBD's labels where ``sbd_root`` is given.

    ``split="modern"``: VOC 2012 train plus, with ``sbd_root``, SBD's ``train_noval`` images VOC train
    lacks; VOC 2012 val for validation. ``split="paper"``: the authors' split (the reference
    implementation's ``data/pascal/README.md``): SBD train (8,498 images) for training, and for
    validation *seg11valid*, the 736 VOC 2011 val images SBD does not train on (read from VOC 2012's
    folders, which hold them; the list is fetched once into ``data/splits``). The paper's and the
    reference models' scores are on seg11valid. ``limit`` keeps the first images of each (smoke runs).
    """
    if split not in SPLITS:
        raise ValueError(f"no split {split!r}: use one of {', '.join(SPLITS)}")
    if split == "paper":
        if sbd_root is None:
            raise ValueError("the paper's split trains on SBD: pass its folder (sbd_root, --sbd)")
        sbd = data.sbd_dataset(sbd_root, "train", patch_size=patch_size, download=download)
        data.voc_dataset(voc_root, "val", download=download)  # VOC is there (or fetched) before the list
        held_out = seg11valid(data.default_root("splits"))
        val = data.voc_dataset(voc_root, "seg11valid", ids=held_out)
        excluded = set(held_out)
        train = Subset(sbd, [i for i in range(len(sbd)) if _stem(sbd.files(i)[0]) not in excluded])
    else:
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


def missing_data_report(error: Exception, *, train_images: int = 8498, val_images: int = 736,
                        relative_to: str | Path | None = None, hint: bool = True, width: int = 80) -> str:
    """What chapter 8 prints when the paper's split could not be built: ``error``'s message (paths shown
    from ``relative_to``), how to fetch the data (``hint``), and that the split's sizes, ``train_images``
    and ``val_images``, are the reference implementation's counts, not counted here."""
    message = str(error)
    if relative_to is not None:
        message = message.replace(f"{Path(relative_to)}{os.sep}", "")
    # the manual route on a line of its own, each line wrapped alone: the archive's name and MD5 stay whole
    first, *rest = message.replace(" By hand: ", "\nBy hand: ").splitlines() or [""]
    lines = [textwrap.fill(f"no full-scale data here: {first}", width)]
    lines += [textwrap.fill(line, width, subsequent_indent="  ") for line in rest] + [""]
    if hint:
        lines += ["to fetch it: python -m fcn_lesson download (or download=True here)", ""]
    lines += [f'split="paper" was not built here: its {train_images:,} training and {val_images} validation '
              "images", "are the reference implementation's counts, not counted here"]
    return "\n".join(lines)


def describe_runs(runs: dict[str, dict[str, TrainResult]], steps: dict[str, dict[str, int]]) -> str:
    """One line per recipe and stage of :func:`train_voc`'s results ``runs`` (recipe name -> stage ->
    result): epochs, optimizer ``steps`` (recipe name -> stage -> steps, e.g. :func:`stage_steps`'s),
    training seconds, seconds per image, and the last validation mean IU."""
    lines = []
    for name, results in runs.items():
        for stage, result in results.items():
            images = sum(record["images_per_s"] * record["seconds"] for record in result.history)
            lines.append(f"{name} recipe, {stage}: {len(result.history)} epoch(s), {steps[name][stage]:,} "
                         f"step(s), {result.seconds:.1f} s ({result.seconds / images:.2f} s per image), "
                         f"validation mean IU {result.history[-1]['val_mean_iu']:.3f}")
    return "\n".join(lines)


@torch.no_grad()
def summed_loss(model: torch.nn.Module, dataset: Dataset, *, device=None) -> float:
    """The paper's loss, averaged over the images of ``dataset``: each image's cross-entropy summed over
    its labelled pixels (255 left out), ``model`` in eval mode, one image at a time."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    losses = [torch.nn.functional.cross_entropy(model(image[None].to(device)).float(), label[None].to(device),
                                                ignore_index=data.IGNORE_INDEX, reduction="sum").item()
              for image, label in dataset]
    return sum(losses) / len(losses)


def wrap_command(command: str, width: int = 70, indent: str = "    ") -> str:
    """A shell command split over lines ending in `` \\`` (the continuation), at most ``width``
    characters a line where its words allow, never between an option and its value (``--data voc``
    stays whole: a word that starts with ``-`` keeps the word after it, unless that one is an option
    too)."""
    words, groups = command.split(), []
    while words:
        word = words.pop(0)
        if word.startswith("-") and words and not words[0].startswith("-"):
            word += " " + words.pop(0)
        groups.append(word)
    lines = [groups[0]]
    for group in groups[1:]:
        prefix = "" if len(lines) == 1 else indent
        if len(prefix + lines[-1] + " " + group + " \\") > width:
            lines.append(group)
        else:
            lines[-1] += " " + group
    return " \\\n".join([lines[0]] + [indent + line for line in lines[1:]])


def train_voc(recipe: VOCRecipe, out: str | Path, voc_root: str | Path, *, sbd_root: str | Path | None = None,
              split: str = "modern", backbone: str = "vgg16", pretrained: bool = True, steps: int | None = None,
              limit: int | None = None, num_workers: int = 4, download: bool = False, device=None,
              progress: bool = True) -> dict[str, TrainResult]:
    """Train FCN-32s, then FCN-16s and FCN-8s from it, writing ``out/<stage>.pt`` (resumable).

    ``pretrained`` transplants torchvision's ImageNet VGG16 (``backbone="vgg16"``
    only; offline it raises a ``ConnectionError`` saying how to get the
    weights). ``split`` is :func:`voc_sets`'s. ``steps`` replaces the recipe's steps per stage and ``limit``
    the number of images, for smoke runs. Validation scores full images,
    one at a time where their sizes differ.
    """
    plan = recipe.plan(backbone=backbone, pretrained=pretrained, steps=steps)
    with main_process_first(device):  # under torchrun, one process downloads
        train_set, val_set = voc_sets(voc_root, sbd_root=sbd_root, split=split, patch_size=recipe.patch_size,
                                      download=download, limit=limit)
    num_classes = (val_set.dataset if isinstance(val_set, Subset) else val_set).num_classes
    description = {"voc": "VOC2012" + (" + SBD" if sbd_root else ""), "split": split, "train": len(train_set),
                   "val": len(val_set), "patch_size": recipe.patch_size}
    return run_plan(plan, TrainingData(train_set, val_set, num_classes, description), out,
                    device=device, num_workers=num_workers, progress=progress)
