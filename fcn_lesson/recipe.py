"""The book's recipes on its scenes: how large the data, how long each model trains, and the plans.

Three scales of one recipe: ``cpu`` (what the book build runs, minutes on two
cores), ``gpu`` (the same, longer and larger, picked when CUDA is there), and
``quick`` (seconds, for the tests). Quick mode is switched on by the
environment variable ``FCN_LESSON_QUICK=1``, read by :func:`quick_mode` and
nowhere else. Each recipe offers these plans: ``staged`` (classifier ->
FCN-32s -> 16s -> 8s, the paper's path) and ``ablation`` (chapter 7's
controlled experiment: the staged path and, each trained for as many epochs
as the three staged FCN stages together, one-stage FCN-32s, and FCN-16s and
8s over three seeds, FCN-8s at once with the paper's factors under Adam and under
the paper's optimiser, with learned upsampling, and from scratch). Chapter 9
adds ``after`` (FCN's descendants at the same budget) and ``imbalance``
(FCN-8s on scenes with a rare class, with a plain and a class-balanced loss).
``seeds`` trains the rows of those experiments again from the same classifier
with other FCN seeds (``rare_seeds`` the imbalance rows, from theirs), so that a
comparison's interval can count the seeds; ``longer`` (``rare_longer``) trains
each row of seed 0 half as long again, to see whether it had levelled,
``longest`` (``rare_longest``) half as long again as that, ``furthest``
(``rare_furthest``) at least half as long again once more, and ``beyond``
(``rare_beyond``) half as long again as ``furthest``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from . import data
from .models import MINI, Layout
from .plans import Plan, Stage, TrainingData, run_plan
from .train import TrainConfig, TrainResult, main_process_first, pick_device

__all__ = ["ABLATION_SEEDS", "BEYOND", "CONTROL_SEEDS", "CPU", "DESCENDANTS", "FCN_SEEDS", "FURTHEST", "GPU", "LONGER", "LONGER_SUFFIXES", "PLANS", "QUICK",
           "RARE_CLASS", "RECIPES", "SEEDED_DESCENDANTS", "SEEDED_MODELS", "Recipe", "cache_dir", "default_recipe",
           "quick_mode", "scene_datasets", "train", "training_data"]

#: Chapter 9's descendants of FCN (see :mod:`fcn_lesson.descendants`), trained from the ablation's classifier.
DESCENDANTS = ("dilated", "unet")
#: Those also trained from the other seeds' classifiers (the U-Net, whose full-resolution decoder makes
#: an epoch cost several of FCN-8s's on two cores, is trained once).
SEEDED_DESCENDANTS = ("dilated",)
#: The class that the ``imbalance`` plan's training scenes make rare (the disc: an easy shape, so that
#: rarity is its only difficulty).
RARE_CLASS = 1
#: The ablation's key rows are trained once per seed, each seed with its own classifier: the recipe's
#: seed plus these offsets. The scenes stay those of the recipe's seed.
ABLATION_SEEDS = (0, 1, 2)
#: The key rows: the one-stage FCN-16s and FCN-8s, the pair whose order is in question (FCN-32s trails
#: both by far more than any spread over seeds, and is trained once).
SEEDED_MODELS = ("fcn16s", "fcn8s")
#: The ``seeds`` plan's further seeds of the main rows (the one-stage FCNs, the staged path, the dilated
#: network, the U-Net) and of the controls, all from the seed-0 classifier: only what the FCN's seed
#: decides changes (the order of the batches and their random flips, the scenes being whole, not
#: patches; the new score layers start at zero, and new layers that start at random, the descendants'
#: heads and decoders, start from other weights).
FCN_SEEDS = (1, 2, 3, 4)
CONTROL_SEEDS = (1, 2)
#: How many times its own epochs the ``longer`` plan trains each row (``longest``: this squared): a row
#: whose gain from half as long again lies, interval and all, under the yardstick :func:`evidence.resolution` had
#: levelled (a poly schedule takes the rate to zero at any length, so a flat end of one run's curve cannot show it).
LONGER = 1.5
#: How many times its own epochs the ``furthest`` plan trains each row, the step after ``longest``: not
#: LONGER cubed (3.375, 67.5 epochs) but the first factor at least that which gives whole epochs to every
#: stage of the staged path (14 + 14 + 42 = 70), so that it trains exactly as long as the one-stage rows.
FURTHEST = 3.5
#: How many times its own epochs the ``beyond`` plan trains each row: half as long again as ``furthest``
#: (105 epochs, whole on every stage of the staged path: 21 + 21 + 63), one row at a time (``--stage``).
BEYOND = FURTHEST * LONGER
#: The plans that train each row's seed-0 run longer, by the stage suffix they add, with their factor.
LONGER_SUFFIXES = {"_longer": LONGER, "_longest": LONGER ** 2, "_furthest": FURTHEST, "_beyond": BEYOND}
#: The plans every recipe offers (see :meth:`Recipe.plan`): a longer plan for the book's scenes and one for
#: the rare-disc scenes per entry of :data:`LONGER_SUFFIXES`.
PLANS = ("staged", "ablation", "after", "imbalance", "seeds", "rare_seeds",
         *(plan for suffix in LONGER_SUFFIXES for plan in (suffix.removeprefix("_"), f"rare{suffix}")))


@dataclass(frozen=True)
class Recipe:
    """The book's scenes at one scale, and how each kind of stage trains on them.

    The training settings are :class:`~fcn_lesson.train.TrainConfig` s, held
    here and nowhere else: ``classifier`` (the pre-training) and ``fcn`` (an
    FCN stage; its ``epochs`` are FCN-32s's, and the other stages are it with
    their own length or seed, by :func:`dataclasses.replace`).
    """

    name: str
    dataset: str = "shapes"        # folder name of the generated scenes (see data.default_root)
    layout: Layout = MINI
    scene_size: int = 128
    train_scenes: int = 1200
    val_scenes: int = 300
    pretraining_images: int = 4000  # single objects the classifier learns from
    scene_seed: int = 0             # of the scenes and the single objects
    classifier: TrainConfig = TrainConfig(epochs=4, batch_size=8, lr=1e-3, precision="auto")  # Adam, constant
    fcn: TrainConfig = TrainConfig(epochs=4, batch_size=8, lr=3e-3, lr_schedule="poly", precision="auto")
    fcn16_epochs: int = 4
    fcn8_epochs: int = 12
    sgd_mean_lr: float = 1e-3       # the ablation's paper-optimiser row, per pixel (see paper_lr)
    rare_class: int | None = None   # a class made rare in the training scenes (see data.make_scene)

    @property
    def budget(self) -> int:
        """Epochs of the staged path's three FCN stages together: every one-stage row trains as long."""
        return self.fcn.epochs + self.fcn16_epochs + self.fcn8_epochs

    @property
    def paper_lr(self) -> float:
        """The ablation's fixed SGD learning rate for a summed loss: ``sgd_mean_lr`` per pixel of a batch.

        A summed loss grows with the pixels in a batch, and so does its
        gradient; dividing by them gives the step a mean loss would take at
        ``sgd_mean_lr``. (The paper's 1e-10 is tiny for the same reason, a sum
        over 500 x 500 pixels, but its effective step is not this one: chapter 8.)
        """
        return self.sgd_mean_lr / (self.fcn.batch_size * self.scene_size ** 2)

    @property
    def trains(self) -> bool:
        """Whether the training runs are long enough for a claim about what a model learned to be checked.

        The tests' quick recipe trains for seconds: its models have learned
        nothing to assert about, only that the code runs.
        """
        return self.name != "quick"

    def expect(self, condition: bool, claim: str) -> None:
        """Assert ``claim`` about a trained model where this recipe trains (see :attr:`trains`)."""
        if self.trains and not condition:
            raise AssertionError(claim)

    def with_precision(self, precision: str) -> "Recipe":
        """This recipe with every stage computing in ``precision`` (see :class:`TrainConfig`)."""
        return replace(self, classifier=replace(self.classifier, precision=precision),
                       fcn=replace(self.fcn, precision=precision))

    @property
    def imbalanced(self) -> "Recipe":
        """This recipe on scenes whose training set makes :data:`RARE_CLASS` rare (the ``imbalance``
        plan's data)."""
        return replace(self, dataset=f"{self.dataset}-rare", rare_class=RARE_CLASS)

    def plan(self, name: str = "staged") -> Plan:
        """The ``staged`` plan, the ``ablation`` (see the module's docstring), ``after`` (chapter 9's
        descendants of FCN, each trained as long as a one-stage row of the ablation), ``imbalance``
        (FCN-8s with a plain and a class-balanced loss, on :attr:`imbalanced` scenes), ``seeds`` and
        ``rare_seeds`` (those rows again with other FCN seeds) or ``longer`` and ``rare_longer`` (the
        rows trained :data:`LONGER` times as long; ``longest``, ``rare_longest``: that squared;
        ``furthest``, ``rare_furthest``: :data:`FURTHEST` times; ``beyond``, ``rare_beyond``:
        :data:`BEYOND` times). Each
        plan's ``data`` is the recipe whose scenes it trains on."""
        if name not in PLANS:
            raise ValueError(f"no plan {name!r}; the scenes' plans are {', '.join(PLANS)}")
        if name == "after":
            return Plan(name, self.layout, tuple(self._descendants()), data=self)
        if name == "seeds":
            return Plan(name, self.layout, tuple(self._seeds()), data=self)
        if f"_{name}" in LONGER_SUFFIXES:
            return Plan(name, self.layout, tuple(self._longer(f"_{name}")), data=self)
        if name == "imbalance":
            return Plan(name, self.layout, tuple(self._imbalance()), data=self.imbalanced)
        if name == "rare_seeds":
            return Plan(name, self.layout, tuple(self._imbalance(CONTROL_SEEDS)), data=self.imbalanced)
        if name.removeprefix("rare") in LONGER_SUFFIXES:
            suffix = name.removeprefix("rare")
            return Plan(name, self.layout, tuple(self._imbalance(suffix=suffix, times=LONGER_SUFFIXES[suffix])),
                        data=self.imbalanced)
        stages = [self._classifier("classifier"), *self._staged()]
        if name == "ablation":
            stages += self._ablation()
        return Plan(name, self.layout, tuple(stages), data=self)

    def _classifier(self, name: str, offset: int = 0) -> Stage:
        return Stage(name, "classifier", replace(self.classifier, seed=self.classifier.seed + offset))

    def _staged(self, offset: int = 0, suffix: str = "", times: float = 1) -> list[Stage]:
        """The paper's path from the classifier: FCN-32s, then 16s, then 8s, each from the one before
        (each ``times`` as long)."""
        fcn = replace(self.fcn, seed=self.fcn.seed + offset)
        epochs = [math.ceil(times * n) for n in (self.fcn.epochs, self.fcn16_epochs, self.fcn8_epochs)]
        return [Stage(f"fcn32s{suffix}", "fcn32s", replace(fcn, epochs=epochs[0]), start="classifier"),
                Stage(f"fcn16s{suffix}", "fcn16s", replace(fcn, epochs=epochs[1]), start=f"fcn32s{suffix}"),
                Stage(f"fcn8s{suffix}", "fcn8s", replace(fcn, epochs=epochs[2]), start=f"fcn16s{suffix}")]

    def _one_stage(self, offset: int = 0, times: float = 1) -> TrainConfig:
        """An FCN trained in one stage, as long as the staged path's three together (``times`` that)."""
        return replace(self.fcn, epochs=math.ceil(times * self.budget), seed=self.fcn.seed + offset)

    def _ablation(self) -> list[Stage]:
        """Each row differs from ``fcn8s_one_stage`` (seed 0) in the one thing its name says."""
        stages = []
        for offset in ABLATION_SEEDS:
            suffix = f"_seed{offset}" if offset else ""
            classifier = f"classifier{suffix}"
            if offset:
                stages.append(self._classifier(classifier, offset))
            models = ("fcn32s", "fcn16s", "fcn8s") if not offset else SEEDED_MODELS
            stages += [Stage(f"{model}_one_stage{suffix}", model, self._one_stage(offset), start=classifier)
                       for model in models]
            if not offset:
                stages += self._controls()
        return stages

    def _descendants(self) -> list[Stage]:
        """Chapter 9's networks, from the ablation's classifiers, trained as its one-stage rows."""
        stages = []
        for offset in ABLATION_SEEDS:
            suffix = f"_seed{offset}" if offset else ""
            stages.append(self._classifier(f"classifier{suffix}", offset))
            stages += [Stage(f"{model}{suffix}", model, self._one_stage(offset), start=f"classifier{suffix}")
                       for model in (SEEDED_DESCENDANTS if offset else DESCENDANTS)]
        return stages

    def _controls(self, offset: int = 0, suffix: str = "", times: float = 1) -> list[Stage]:
        one_stage = self._one_stage(offset, times)
        paper_optimizer = replace(one_stage, optimizer="sgd", momentum=0.99, loss="sum",
                                  lr=self.paper_lr, lr_schedule="constant")
        return [Stage(f"fcn8s_at_once{suffix}", "fcn8s", one_stage, start="classifier", at_once=True),
                Stage(f"fcn8s_at_once_sgd{suffix}", "fcn8s", paper_optimizer, start="classifier", at_once=True),
                Stage(f"fcn8s_learned_up{suffix}", "fcn8s", one_stage, start="classifier",
                      learnable_upsampling=True),
                Stage(f"fcn8s_scratch{suffix}", "fcn8s", one_stage, start="random")]

    def _seeds(self) -> list[Stage]:
        """The rows of the ablation and of ``after`` again, from the seed-0 classifier with the FCN seeds
        :data:`FCN_SEEDS` (the controls: :data:`CONTROL_SEEDS`), as ``<row>_fcn_seed<i>``. Ordered so that
        a plan stopped part-way has trained every FCN row and the dilated network for as many seeds as it
        got to, then the U-Nets (about ten times slower to train), then the controls."""
        stages = [self._classifier("classifier")]
        for offset in FCN_SEEDS:
            suffix = f"_fcn_seed{offset}"
            stages += [Stage(f"{model}_one_stage{suffix}", model, self._one_stage(offset), start="classifier")
                       for model in ("fcn8s", "fcn16s", "fcn32s")]
            stages.append(Stage(f"dilated{suffix}", "dilated", self._one_stage(offset), start="classifier"))
            stages += self._staged(offset, suffix)
        stages += [Stage(f"unet_fcn_seed{offset}", "unet", self._one_stage(offset), start="classifier")
                   for offset in FCN_SEEDS]
        for offset in CONTROL_SEEDS:
            stages += self._controls(offset, f"_fcn_seed{offset}")
        return stages

    def _imbalance(self, offsets: tuple[int, ...] = (0,), suffix: str = "", times: float = 1) -> list[Stage]:
        """FCN-8s on :attr:`imbalanced` scenes with a plain and a balanced loss, from their own
        classifier, for each FCN seed offset (``_fcn_seed<i>`` past seed 0; seed 0's named with
        ``suffix``), each ``times`` as long as a one-stage row."""
        stages = [self._classifier("rare_classifier")]
        for offset in offsets:
            name = f"_fcn_seed{offset}" if offset else suffix
            plain = self._one_stage(offset, times)
            stages += [Stage(f"rare_fcn8s{name}", "fcn8s", plain, start="rare_classifier"),
                       Stage(f"rare_fcn8s_balanced{name}", "fcn8s", replace(plain, loss="balanced"),
                             start="rare_classifier")]
        return stages

    def _longer(self, suffix: str) -> list[Stage]:
        """The main rows and the controls of FCN seed 0, from the classifier, each trained
        :data:`LONGER_SUFFIXES` [``suffix``] times as long as its row (as ``<row's stage><suffix>``). The
        controls, then the U-Net (the slowest by far), come last, so that a plan stopped part-way has the
        main FCN rows."""
        times = LONGER_SUFFIXES[suffix]
        one_stage = self._one_stage(times=times)
        stages = [self._classifier("classifier")]
        stages += [Stage(f"{model}_one_stage{suffix}", model, one_stage, start="classifier")
                   for model in ("fcn8s", "fcn16s", "fcn32s")]
        stages.append(Stage(f"dilated{suffix}", "dilated", one_stage, start="classifier"))
        stages += self._staged(suffix=suffix, times=times)
        stages += self._controls(suffix=suffix, times=times)
        stages.append(Stage(f"unet{suffix}", "unet", one_stage, start="classifier"))
        return stages


CPU = Recipe("cpu")
GPU = replace(CPU, name="gpu", pretraining_images=12000, classifier=replace(CPU.classifier, epochs=8),
              fcn=replace(CPU.fcn, epochs=15), fcn16_epochs=15, fcn8_epochs=30)
QUICK = replace(CPU, name="quick", dataset="shapes-quick", train_scenes=16, val_scenes=8, pretraining_images=32,
                classifier=replace(CPU.classifier, epochs=1), fcn=replace(CPU.fcn, epochs=1), fcn16_epochs=1,
                fcn8_epochs=1)
#: The recipes by name, as the command line and the benchmark offer them.
RECIPES = {recipe.name: recipe for recipe in (CPU, GPU, QUICK)}


def quick_mode() -> bool:
    """True when ``FCN_LESSON_QUICK`` is set (the tests set it): every training run shrinks to seconds."""
    return os.environ.get("FCN_LESSON_QUICK", "") not in ("", "0")


def default_recipe(device: str | torch.device | None = None) -> Recipe:
    """Quick in quick mode, else the GPU scale on CUDA, else the CPU scale."""
    if quick_mode():
        return QUICK
    return GPU if pick_device(device).type == "cuda" else CPU


def cache_dir(recipe: Recipe) -> Path:
    """Where the chapters keep the models they train, one folder per recipe, beside the scenes."""
    return data.default_root(f"checkpoints-{recipe.name}")


def scene_datasets(recipe: Recipe, root: Path | None = None):
    """(train, val) scene datasets, generating the scenes on first use; each scene is decoded once.

    Without ``root``, in the module's cache (:func:`data.default_root`); a ``root`` that holds other
    scenes than ``recipe``'s is refused (see :func:`data.make_dataset`)."""
    root = data.make_dataset(root, train=recipe.train_scenes, val=recipe.val_scenes, size=recipe.scene_size,
                             seed=recipe.scene_seed, rare=recipe.rare_class, name=recipe.dataset)
    return data.voc_dataset(root, "train", keep_decoded=True), data.voc_dataset(root, "val", keep_decoded=True)


def training_data(recipe: Recipe, root: Path | None = None) -> TrainingData:
    """The scenes and the pre-training objects of ``recipe``, ready for :func:`plans.run_plan`."""
    train_set, val_set = scene_datasets(recipe, root)
    size = recipe.layout.native_size
    objects = (data.ObjectImages(recipe.pretraining_images, size, recipe.scene_seed),
               data.ObjectImages(max(recipe.pretraining_images // 10, 8), size, recipe.scene_seed + 1, augment=False))
    description = {"scenes": {"train": recipe.train_scenes, "val": recipe.val_scenes, "size": recipe.scene_size,
                              "seed": recipe.scene_seed, "format": data.SCENES_FORMAT},
                   "objects": objects[0].description}
    if recipe.rare_class is not None:
        description["scenes"]["rare"] = recipe.rare_class
    return TrainingData(train_set, val_set, len(data.CLASSES), description, objects, len(data.CLASSES) - 1)


def train(recipe: Recipe, plan: str = "staged", *, until: str | None = None, out: Path | None = None,
          root: Path | None = None, reuse: Path | None = None, device=None,
          progress: bool = True) -> dict[str, TrainResult]:
    """Run ``recipe``'s plan (up to the stage ``until``) on the scenes it names; one result per stage.

    Without ``out``, the models go to the chapters' cache (:func:`cache_dir`),
    where a model made by a different recipe is trained anew; with ``out``,
    a checkpoint made by another run is refused. Finished stages in ``reuse`` are loaded from there
    (see :func:`plans.run_plan`).
    """
    steps = recipe.plan(plan)
    with main_process_first(device):  # under torchrun, one process makes the scenes
        scene_data = training_data(steps.data, root)
    return run_plan(steps, scene_data, out or cache_dir(recipe), until=until,
                    retrain=out is None, reuse=reuse, device=device, progress=progress)
