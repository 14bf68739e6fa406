"""The training engine: one configuration, one ``fit``, one result; and evaluation.

:class:`TrainConfig` is everything that decides the weights a run ends with
(optimizer, learning rate and its schedule, loss, length, batch, mixed
precision, seed). :func:`fit` trains any of the book's models with it, the
classifier (labels ``N``) and the FCNs (labels ``N x H x W``) alike: a
cross-entropy over class scores with 255 ignored. It picks the device, seeds
every epoch (a resumed run ends with the weights of an uninterrupted one),
checkpoints after every epoch (atomically), and under ``torchrun`` runs one
process per GPU with DistributedDataParallel. It returns a
:class:`TrainResult`, as does every other training entry point of the module.
"""
from __future__ import annotations

import itertools
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from .checkpoints import fingerprint, read_checkpoint, rebuild_model, save_checkpoint
from .data import IGNORE_INDEX, class_shares
from .metrics import boundary_mask, confusion_matrix, scores
from .progress import live, tqdm
from .registry import model_spec

__all__ = ["TrainConfig", "TrainResult", "balanced_weights", "evaluate", "fit", "is_main_process",
           "main_process_first", "mixed_precision", "pick_device", "predict"]

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "poly")
LOSSES = ("mean", "sum", "balanced")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class TrainConfig:
    """How one model is trained: everything that changes the weights it ends with.

    The length is ``epochs`` (passes over the training set) or ``steps``
    (optimizer steps, rounded up to whole epochs), not both. ``lr_schedule``
    "poly" lowers the learning rate as ``(1 - step / steps) ** poly_power``
    (0.9: the schedule of DeepLab and torchvision's segmentation references); ``loss``
    "sum" adds the pixels' losses up, as the paper's batch-1 recipe does;
    "balanced" weighs each class by :func:`balanced_weights` of the training
    set (the class balancing the paper tried in its section 4.3).
    ``precision``: "auto" computes in mixed precision where the device does
    so natively (see :func:`mixed_precision`), "float32" never; "bfloat16"
    or "float16" force that autocast type (on a CPU without native support
    too: slower, but the same code path a GPU takes).
    """

    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 8
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    poly_power: float = 0.9  # lr_schedule "poly" only
    loss: str = "mean"
    precision: str = "float32"
    seed: int = 0

    def __post_init__(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError(f"give the length as epochs or as steps, not both or neither "
                             f"(got epochs={self.epochs}, steps={self.steps})")
        for name in ("epochs", "steps", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        for name, value, allowed in (("optimizer", self.optimizer, OPTIMIZERS),
                                     ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
                                     ("loss", self.loss, LOSSES), ("precision", self.precision, PRECISIONS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not (isinstance(self.weight_decay, (int, float)) and 0 <= self.weight_decay < math.inf):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.poly_power, (int, float)) and 0 < self.poly_power < math.inf):
            raise ValueError(f"poly_power must be a finite number > 0, got {self.poly_power!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}")

    def differences(self, other: "TrainConfig") -> dict[str, tuple]:
        """The settings in which two runs' configurations differ, ``name: (self's, other's)``: what
        may part runs that start from the same data and seed."""
        return {name: (value, getattr(other, name)) for name, value in asdict(self).items()
                if value != getattr(other, name)}

    def epochs_for(self, train_images: int) -> int:
        """Passes over ``train_images`` images: ``epochs``, or enough to make ``steps`` steps."""
        if self.epochs is not None:
            return self.epochs
        return math.ceil(self.steps / math.ceil(train_images / self.batch_size))


@dataclass
class TrainResult:
    """What every training entry point returns: the trained model and how it got there."""

    model: nn.Module
    history: list[dict]  # one record per epoch: loss, seconds, images/s, validation scores
    fingerprint: str = ""  # of the run that made it (configuration, model, origin)
    weights_only: bool = False  # loaded from a checkpoint stripped for shipping (half-precision weights)

    @property
    def seconds(self) -> float:
        """Training time summed over the epochs (validation not included), across resumptions."""
        return sum(record["seconds"] for record in self.history)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "TrainResult":
        """The finished (or interrupted) run saved at ``path``, its model rebuilt and in eval mode."""
        state = read_checkpoint(path, map_location)
        return cls(rebuild_model(state, path), state["history"], state["fingerprint"], "optimizer" not in state)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given (and present), else CUDA when there is a GPU, else the CPU."""
    if device is None:
        if _distributed() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device} is not one this module trains on: use cpu, cuda or cuda:N")
    if device.type == "cpu" and device.index not in (None, 0):
        raise ValueError(f"device {device} does not exist: the CPU is one device, use cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} asked for, but this machine has no CUDA GPU: use cpu "
                         "(or leave the device out to pick one)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"device {device} asked for, but there are {torch.cuda.device_count()} GPU(s): "
                         f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    return device


def mixed_precision(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast type for ``precision`` on ``device``, or None for float32.

    "auto": bfloat16 on a GPU that computes it natively (Ampere and later),
    else float16, which a T4's tensor cores compute (torch would emulate
    bfloat16 there); bfloat16 on a CPU with native bfloat16 arithmetic (AMX
    or AVX512-BF16), else float32, since elsewhere bfloat16 is emulated and
    slower.
    """
    if precision == "float32":
        return None
    if precision != "auto":
        return getattr(torch, precision)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    if device.type == "cpu" and any(getattr(torch.cpu, probe, lambda: False)()
                                    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")):
        return torch.bfloat16
    return None


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """True unless this is a process other than rank 0 of a ``torchrun`` job: the one that logs and saves."""
    return int(os.environ.get("RANK", "0")) == 0


def _join_process_group(device: torch.device) -> None:
    """Under ``torchrun``, join the job's processes (once): NCCL between GPUs, gloo between CPUs."""
    if _distributed() and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


@contextmanager
def main_process_first(device: str | torch.device | None = None):
    """Under ``torchrun``, rank 0 runs the block before the other ranks do: what it makes
    (the scenes on disk) the others then find made, instead of all writing the same files at once."""
    _join_process_group(pick_device(device))
    if not is_main_process():
        dist.barrier()
    yield
    if is_main_process() and dist.is_initialized():
        dist.barrier()


def run_fingerprint(model: nn.Module, config: TrainConfig, origin: dict | None, processes: int = 1) -> str:
    """The fingerprint of training ``model`` with ``config``, starting from ``origin``, in ``processes``
    processes (``torchrun``: each takes its own batch, so the step sees ``processes`` batches).
    A single process is left out of the description, so that such runs keep their fingerprints."""
    description = {"config": asdict(config), "model": model_spec(model), "origin": origin}
    if processes != 1:
        description["processes"] = processes
    return fingerprint(description)


@dataclass
class _Run:
    """The state of one call of :func:`fit`: what set-up made and each epoch moves on."""

    model: nn.Module
    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    config: TrainConfig
    device: torch.device
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler
    autocast: torch.dtype | None  # None: float32
    scaler: torch.amp.GradScaler  # float16 only: its small range needs the loss scaled
    sampler: DistributedSampler | None
    loader: DataLoader
    generator: torch.Generator  # the loader's shuffling, reseeded every epoch
    epochs: int
    origin: dict | None
    processes: int
    fingerprint: str
    history: list[dict] = field(default_factory=list)
    weights_only: bool = False  # the checkpoint it loaded was stripped (finished, half-precision weights)
    class_weights: torch.Tensor | None = None  # loss="balanced" only


def fit(model: nn.Module, train_data: Dataset, config: TrainConfig, *, val_data: Dataset | None = None,
        num_classes: int | None = None, checkpoint: str | Path | None = None, origin: dict | None = None,
        device: str | torch.device | None = None, num_workers: int = 0, progress: bool = True) -> TrainResult:
    """Train ``model`` on ``train_data`` as ``config`` says; score ``val_data`` after every epoch.

    With ``checkpoint``, the run is saved after every epoch and resumed from
    the file if it exists, but only if the file was made by the same run:
    same configuration, same model and same ``origin`` (a description of the
    starting weights and the data, which the plans give). A file made by any
    other run is refused with a ``ValueError`` naming what differs.
    """
    run = _set_up(model, train_data, config, origin, pick_device(device), num_workers)
    if config.loss == "balanced":
        if num_classes is None:
            raise ValueError("loss='balanced' weighs the classes of a segmentation set: pass num_classes")
        run.class_weights = balanced_weights(train_data, num_classes).to(run.device)
    if checkpoint is not None and Path(checkpoint).exists():
        _resume(run, checkpoint)
        if run.history and progress and is_main_process():  # say why no epoch lines follow, or fewer
            done = len(run.history)
            state = "finished, loaded" if done >= run.epochs else f"resumed after epoch {done}"
            print(f"{Path(checkpoint).name}: {state} ({done} of {run.epochs} epochs)", flush=True)
    for epoch in range(len(run.history), run.epochs):
        record = _train_epoch(run, epoch, progress)
        if val_data is not None and is_main_process():
            scored = evaluate(model, val_data, num_classes=num_classes, device=run.device,
                              batch_size=config.batch_size, precision=config.precision)
            record.update({f"val_{k}": v for k, v in scored.items() if isinstance(v, float)})
        run.history.append(record)
        _end_epoch(run, record, checkpoint, progress)
    if dist.is_initialized():  # batch-norm statistics are per process: keep rank 0's everywhere
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)
    return TrainResult(model, run.history, run.fingerprint, run.weights_only)


def balanced_weights(data: Dataset, num_classes: int) -> torch.Tensor:
    """Class weights: the median of the classes' pixel shares (:func:`~fcn_lesson.data.class_shares`) over
    each class's share. A rare class weighs more than a common one, so that each class contributes about
    equally to the loss: a variant of the median-frequency balancing of Eigen and Fergus, whose
    frequencies count only the images that contain the class (a global share weighs a rare class more)."""
    share = class_shares(data, num_classes)
    present = share > 0  # an absent class is never a target: its weight is never used (0 here)
    weights = torch.zeros(num_classes, dtype=torch.float64)
    weights[present] = share[present].median() / share[present]
    return weights.float()


def _set_up(model, train_data, config, origin, device, num_workers) -> _Run:
    """Device, process group, optimizer, learning-rate schedule, precision, data loader."""
    if len(train_data) == 0:
        raise ValueError("the training set is empty: check the split file or the dataset's root")
    _join_process_group(device)
    if device.type == "cuda":  # tensor cores read channels-last; cuDNN picks the fastest kernels once
        torch.backends.cudnn.benchmark = True
        model.to(memory_format=torch.channels_last)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
    sampler = DistributedSampler(train_data, shuffle=True, seed=config.seed) if dist.is_initialized() else None
    epochs = config.epochs_for(len(train_data))
    steps = epochs * math.ceil(len(sampler if sampler is not None else train_data) / config.batch_size)
    if config.lr_schedule == "poly":
        lr_scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=steps,
                                                                 power=config.poly_power)
    else:
        lr_scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    autocast = mixed_precision(device, config.precision)
    generator = torch.Generator()
    loader = DataLoader(train_data, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=num_workers, pin_memory=device.type == "cuda",
                        persistent_workers=num_workers > 0, generator=generator)
    if dist.is_initialized() and device.type == "cuda":  # batch norm over the whole batch, not each GPU's
        nn.SyncBatchNorm.convert_sync_batchnorm(model)  # (NCCL only; in place: the model holds the layers)
    net = nn.parallel.DistributedDataParallel(model) if dist.is_initialized() else model
    scaler = torch.amp.GradScaler(device.type, enabled=autocast == torch.float16 and device.type == "cuda")
    processes = dist.get_world_size() if dist.is_initialized() else 1
    return _Run(model, net, config, device, optimizer, lr_scheduler, autocast, scaler, sampler, loader, generator,
                epochs, origin, processes, run_fingerprint(model, config, origin, processes))


def _resume(run: _Run, checkpoint) -> None:
    """Continue the run saved in ``checkpoint``, if it is this run."""
    state = read_checkpoint(checkpoint, run.device)
    if state["fingerprint"] != run.fingerprint:
        raise ValueError(f"{checkpoint} was made by another run ({_difference(state, run)}): "
                         "train into another folder (or run the command that made it)")
    run.model.load_state_dict(state["state_dict"])
    if "optimizer" in state:
        run.optimizer.load_state_dict(state["optimizer"])
        run.lr_scheduler.load_state_dict(state["lr_scheduler"])
    elif state["epoch"] < run.epochs:
        raise ValueError(f"{checkpoint} was stripped of its optimizer state, so it cannot be resumed: "
                         "train into another folder")
    run.history = state["history"]
    run.weights_only = "optimizer" not in state


def _difference(state: dict, run: _Run) -> str:
    """What differs between a checkpoint's run and this one, in words."""
    new = asdict(run.config)
    changed = [f"{key} {state['config'].get(key)!r} -> {new[key]!r}" for key in new
               if state["config"].get(key) != new[key]]
    if state["model"] != model_spec(run.model):
        changed.append("another model")
    if state.get("processes", 1) != run.processes:
        changed.append(f"processes {state.get('processes', 1)} -> {run.processes}")
    old, new = state.get("origin"), run.origin
    if isinstance(old, dict) and isinstance(new, dict):
        changed += [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in sorted({*old, *new})
                    if old.get(key) != new.get(key)]
    if not changed:
        changed.append("other starting weights or data")
    return "; ".join(changed)


def _train_epoch(run: _Run, epoch: int, progress: bool) -> dict:
    """One pass over the training set; the epoch's record (loss, seconds, images/s)."""
    seed = run.config.seed * 100_003 + epoch
    torch.manual_seed(seed)  # dropout, augmentation and order: the same for a resumed epoch
    run.generator.manual_seed(seed)
    if run.sampler is not None:
        run.sampler.set_epoch(epoch)
    run.net.train()
    began, seen, total_loss = time.perf_counter(), 0, 0.0
    # the bar is told the length, never handed the loader: tqdm.auto's bar (ipywidgets installed) calls
    # iter() on what it is handed, which draws from the generator and would make the order depend on it
    bar = tqdm(total=len(run.loader), desc=f"epoch {epoch + 1}/{run.epochs}", leave=False,
               disable=not (progress and is_main_process() and live()))
    for images, targets in run.loader:
        images = _to_device(images, run.device)
        targets = targets.to(run.device, non_blocking=True)
        with torch.autocast(run.device.type, dtype=run.autocast, enabled=run.autocast is not None):
            logits = run.net(images)
        loss = F.cross_entropy(logits.float(), targets, weight=run.class_weights, ignore_index=IGNORE_INDEX,
                               reduction="sum" if run.config.loss == "sum" else "mean")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.lr_scheduler.step()
        value = loss.item()  # the step's one device sync: the bar shows it, the epoch's mean adds it
        if not math.isfinite(value):
            raise ValueError(f"the loss became {value} in epoch {epoch + 1} (after {seen} images): training "
                             f"diverged; lower the learning rate (lr {run.config.lr:g}); the checkpoint of "
                             "the last whole epoch is kept")
        seen += len(images)
        total_loss += value * len(images)
        bar.set_postfix(loss=f"{value:.3f}", refresh=False)
        bar.update()
    bar.close()
    seconds = time.perf_counter() - began
    world = dist.get_world_size() if dist.is_initialized() else 1
    return {"epoch": epoch + 1, "loss": total_loss / seen, "seconds": seconds, "images_per_s": seen * world / seconds}


def _end_epoch(run: _Run, record: dict, checkpoint, progress: bool) -> None:
    """Say how the epoch went and save the run (rank 0 only); keep the processes in step."""
    if is_main_process():
        if progress:
            print(_epoch_line(record, run.epochs), flush=True)
        if checkpoint is not None:
            save_checkpoint(checkpoint, run.model, optimizer=run.optimizer.state_dict(),
                            lr_scheduler=run.lr_scheduler.state_dict(), epoch=record["epoch"], epochs=run.epochs,
                            history=run.history, config=asdict(run.config), origin=run.origin,
                            processes=run.processes, fingerprint=run.fingerprint)
    if dist.is_initialized():
        dist.barrier()


def _epoch_line(record: dict, epochs: int) -> str:
    line = f"epoch {record['epoch']}/{epochs}  loss {record['loss']:.3f}"
    for key, label in (("val_mean_iu", "val mean IU"), ("val_accuracy", "val accuracy")):
        if key in record:
            line += f"  {label} {record[key]:.3f}"
    rate = record["images_per_s"]
    return line + f"  ({record['seconds']:.1f} s, {rate:.{1 if rate < 10 else 0}f} img/s)"


def _to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch moved to ``device``, channels-last on a GPU (the layout its tensor cores read)."""
    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else images


@torch.no_grad()
@torch.inference_mode()
def predict(model: nn.Module, image: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """The class of every pixel: ``H x W`` for one normalised image ``3 x H x W``, ``N x H x W`` for a batch.

    Runs in eval mode (batch norm uses its learned statistics) on the model's
    device, ``batch_size`` images at a time, and restores the model's mode afterwards.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    single = image.dim() == 3
    batch = image[None] if single else image
    classes = torch.cat([model(chunk.to(device)).argmax(1).cpu() for chunk in batch.split(batch_size)])
    model.train(was_training)
    return classes[0] if single else classes


def _equal_size_batches(data: Dataset, batch_size: int):
    """(images, targets) stacks of up to ``batch_size`` items, split wherever the image size changes:
    batched where sizes agree (the scenes), one at a time where they differ (PASCAL VOC)."""
    for items in DataLoader(data, batch_size=batch_size, collate_fn=list):
        for _, group in itertools.groupby(items, key=lambda item: tuple(item[0].shape)):
            images, targets = zip(*group)
            yield torch.stack(images), torch.stack(targets)


@torch.inference_mode()
def evaluate(model: nn.Module, data: Dataset, *, num_classes: int | None = None, batch_size: int = 8,
             device: str | torch.device | None = None, boundary: int | None = None,
             precision: str = "float32", progress: bool = False) -> dict:
    """Score ``model`` on ``data``: accuracy for image labels, the four scores for label maps.

    Images of different sizes are scored one at a time, so any VOC split
    works. Segmentation results also hold the confusion matrix
    (``"confusion"``), from which anything else (per-class IU, other
    groupings) can be computed, and with ``boundary`` the pixel accuracy
    within that many pixels of an object's outline (``"boundary_accuracy"``,
    see ``metrics.boundary_mask``). ``precision`` as in :class:`TrainConfig`.
    """
    if len(data) == 0:
        raise ValueError("there are no images to score: check the split file or the dataset's root")
    device = pick_device(device)
    was_training = model.training
    model.eval().to(device)
    autocast = mixed_precision(device, precision)
    confusion, correct, count, band_correct, band_count = None, 0, 0, 0, 0
    for images, targets in tqdm(_equal_size_batches(data, batch_size), disable=not (progress and live()),
                                leave=False, desc="evaluating", total=math.ceil(len(data) / batch_size)):
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            logits = model(_to_device(images, device))
        pred = logits.argmax(1).cpu()
        if targets.dim() == 1:
            correct += int((pred == targets).sum())
            count += len(targets)
            continue
        batch = confusion_matrix(pred, targets, num_classes or logits.shape[1])
        confusion = batch if confusion is None else confusion + batch
        if boundary is not None:
            band = boundary_mask(targets, boundary)
            band_correct += int((pred == targets)[band].sum())
            band_count += int(band.sum())
    model.train(was_training)
    if confusion is None:
        return {"accuracy": correct / count}
    result = {**scores(confusion), "confusion": confusion}
    if boundary is not None:
        result["boundary_accuracy"] = band_correct / max(band_count, 1)
    return result
