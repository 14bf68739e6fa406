"""Training and evaluation loops shared by every chapter and the command line.

One ``fit`` serves the classifier (labels N) and the FCNs (labels N x H x W):
both are a cross-entropy over class scores, with 255 ignored. It picks the
device, uses mixed precision on CUDA, seeds every epoch (so a resumed run ends
with the same weights as an uninterrupted one on the CPU), writes checkpoints
atomically after each epoch, keeps a history for plots, and runs one process
per GPU under ``torchrun`` (DistributedDataParallel).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

try:  # a widget bar in Jupyter when ipywidgets is there (Colab has it)
    import ipywidgets  # noqa: F401
    from tqdm.auto import tqdm
    _WIDGETS = True
except ImportError:
    from tqdm import tqdm
    _WIDGETS = False

from .data import IGNORE_INDEX
from .metrics import boundary_mask, confusion_matrix, scores

__all__ = ["evaluate", "fit", "is_main_process", "load_checkpoint", "pick_device", "predict", "save_checkpoint",
           "strip_checkpoint"]

_CHECKPOINT_FORMAT = 1


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when there is a GPU, else the CPU."""
    if device is not None:
        return torch.device(device)
    if _distributed() and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """True unless this is a process other than rank 0 of a ``torchrun`` job: the one that logs and saves."""
    return int(os.environ.get("RANK", "0")) == 0


def _live_bars() -> bool:
    """Progress bars where someone watches them: a terminal, or Jupyter with widgets.

    Elsewhere (a notebook executed for the book, a CI log) every redraw of a
    text bar would stay in the output as one more line; the one line per epoch
    that ``fit`` prints says what matters there.
    """
    return _WIDGETS or sys.stderr.isatty()


def _describe(model: nn.Module) -> dict:
    """What a checkpoint must match: the class and, for an FCN, its classes, layout and padding."""
    model = getattr(model, "module", model)
    info = {"class": type(model).__name__}
    for key in ("num_classes", "padding", "skip_scales"):
        if hasattr(model, key):
            value = getattr(model, key)
            info[key] = list(value) if isinstance(value, tuple) else value
    if hasattr(model, "layout"):
        info["layout"] = asdict(model.layout)
    return info


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    **extra) -> Path:
    """Write model (and optimizer) state to ``path`` atomically: a crash mid-write leaves the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": _CHECKPOINT_FORMAT, "model": _describe(model),
             "state_dict": getattr(model, "module", model).state_dict(), **extra}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    return _write_atomic(state, path)


def _write_atomic(state: dict, path: Path) -> Path:
    """Save to a temporary file beside ``path``, then rename: readers see the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device = "cpu") -> dict:
    """Load ``path`` into ``model`` (and ``optimizer``); return the checkpoint's other entries.

    Refuses, naming both sides, a checkpoint written for another model class,
    class count or layout, instead of failing inside ``load_state_dict``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: train one first (python -m fcn_lesson train ...)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err}); delete it and train again") from None
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"{path} was not written by fcn_lesson.train.save_checkpoint; delete it or pass another")
    expected = _describe(model)
    if state["model"] != expected:
        raise ValueError(f"{path} holds a {_summary(state['model'])}, but this model is a {_summary(expected)}: "
                         "build the model the checkpoint was trained as, or use another checkpoint")
    getattr(model, "module", model).load_state_dict(state.pop("state_dict"))
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state.pop("optimizer"))
    return state


def strip_checkpoint(path: str | Path) -> Path:
    """Rewrite a finished checkpoint without its optimizer state, atomically: for shipping, not resuming."""
    path = Path(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state.pop("optimizer", None)
    return _write_atomic(state, path)


def _summary(info: dict) -> str:
    parts = [info["class"]]
    if "num_classes" in info:
        parts.append(f"with {info['num_classes']} classes")
    if "layout" in info:
        parts.append(f"widths {tuple(info['layout']['widths'])}, padding {info.get('padding')}")
    return ", ".join(parts)


def _loss(logits: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"loss must be 'mean' or 'sum', got {reduction!r}")
    return F.cross_entropy(logits.float(), target, ignore_index=IGNORE_INDEX, reduction=reduction)


def fit(model: nn.Module, train_data: Dataset, *, epochs: int, batch_size: int = 8, lr: float = 1e-3,
        optimizer: str = "adam", momentum: float = 0.9, weight_decay: float = 0.0, loss: str = "mean",
        schedule: str = "constant", val_data: Dataset | None = None, val_batch_size: int | None = None,
        num_classes: int | None = None, device: str | torch.device | None = None, amp: bool | None = None,
        checkpoint: str | Path | None = None, resume: bool = True, seed: int = 0,
        num_workers: int = 0, progress: bool = True) -> list[dict]:
    """Train ``model`` for ``epochs``; return the history, one dict per epoch.

    ``optimizer``: "adam" or "sgd" (with ``momentum`` and ``weight_decay``);
    ``schedule``: "constant" or "poly" (the learning rate falls as
    ``(1 - step / steps) ** 0.9``); ``loss``: "mean" over pixels, or "sum" as
    the paper's batch-1 recipe. ``val_batch_size`` (default ``batch_size``)
    is 1 for images of different sizes. With ``checkpoint``, the state is saved after
    every epoch and, if ``resume`` and the file exists, training continues
    from it. ``amp`` defaults to on for CUDA. Under ``torchrun`` the model is
    wrapped in DistributedDataParallel and each process sees its share of the
    data; only rank 0 prints and writes the checkpoint.
    """
    device = pick_device(device)
    amp = device.type == "cuda" if amp is None else amp
    if _distributed() and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if schedule not in ("constant", "poly"):
        raise ValueError(f"schedule must be 'constant' or 'poly', got {schedule!r}")

    history, start = [], 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, opt, map_location=device)
        history, start = state["history"], state["epoch"]
    net = nn.parallel.DistributedDataParallel(model) if dist.is_initialized() else model
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    sampler = DistributedSampler(train_data, shuffle=True, seed=seed) if dist.is_initialized() else None
    steps_per_epoch = -(-len(sampler if sampler is not None else train_data) // batch_size)

    for epoch in range(start, epochs):
        torch.manual_seed(seed * 100_003 + epoch)  # dropout, augmentation and order, per epoch
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = DataLoader(train_data, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
                            num_workers=num_workers, pin_memory=device.type == "cuda", drop_last=False,
                            generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        net.train()
        began, seen, total_loss = time.perf_counter(), 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=not (progress and is_main_process() and _live_bars()))
        for step, (images, targets) in enumerate(bar):
            if schedule == "poly":
                done = (epoch * steps_per_epoch + step) / (epochs * steps_per_epoch)
                for group in opt.param_groups:
                    group["lr"] = lr * (1 - done) ** 0.9
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=amp):
                logits = net(images)
            batch_loss = _loss(logits, targets, loss)
            opt.zero_grad(set_to_none=True)
            scaler.scale(batch_loss).backward()
            scaler.step(opt)
            scaler.update()
            seen += len(images)
            total_loss += batch_loss.item() * len(images)
            bar.set_postfix(loss=f"{batch_loss.item():.3f}", refresh=False)
        seconds = time.perf_counter() - began
        record = {"epoch": epoch + 1, "loss": total_loss / max(seen, 1), "seconds": seconds,
                  "images_per_s": seen / seconds * (dist.get_world_size() if dist.is_initialized() else 1)}
        if val_data is not None and is_main_process():
            result = evaluate(model, val_data, num_classes=num_classes, device=device,
                              batch_size=val_batch_size or batch_size)
            record.update({f"val_{k}": v for k, v in result.items() if isinstance(v, float)})
        history.append(record)
        if is_main_process():
            if progress:
                print(_epoch_line(record, epochs), flush=True)
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, opt, epoch=epoch + 1, history=history)
        if dist.is_initialized():
            dist.barrier()
    if dist.is_initialized():  # batch-norm statistics are per process: keep rank 0's everywhere
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)
    return history


def _epoch_line(record: dict, epochs: int) -> str:
    line = f"epoch {record['epoch']}/{epochs}  loss {record['loss']:.3f}"
    for key, label in (("val_mean_iu", "val mean IU"), ("val_accuracy", "val accuracy")):
        if key in record:
            line += f"  {label} {record[key]:.3f}"
    return line + f"  ({record['seconds']:.1f} s, {record['images_per_s']:.0f} img/s)"


@torch.no_grad()
def predict(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The class of every pixel: ``H x W`` for one normalised image ``3 x H x W``, ``N x H x W`` for a batch.

    Runs in eval mode (batch norm uses its learned statistics) on the model's
    device, and restores the model's mode afterwards.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    single = image.dim() == 3
    classes = model((image[None] if single else image).to(device)).argmax(1).cpu()
    model.train(was_training)
    return classes[0] if single else classes


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, *, num_classes: int | None = None, batch_size: int = 8,
             device: str | torch.device | None = None, boundary: int | None = None,
             progress: bool = False) -> dict:
    """Score ``model`` on ``data``: accuracy for image labels, the four scores for label maps.

    Segmentation results also hold the confusion matrix (``"confusion"``),
    from which anything else (per-class IU, other groupings) can be computed,
    and with ``boundary`` the pixel accuracy within that many pixels of an
    object's outline (``"boundary_accuracy"``, see ``metrics.boundary_mask``).
    """
    device = pick_device(device)
    was_training = model.training
    model.eval().to(device)
    hist, correct, count, band_correct, band_count = None, 0, 0, 0, 0
    for images, targets in tqdm(DataLoader(data, batch_size=batch_size), disable=not (progress and _live_bars()),
                                leave=False, desc="evaluating"):
        logits = model(images.to(device))
        pred = logits.argmax(1).cpu()
        if targets.dim() == 1:
            correct += int((pred == targets).sum())
            count += len(targets)
            continue
        classes = num_classes or logits.shape[1]
        batch = confusion_matrix(pred, targets, classes)
        hist = batch if hist is None else hist + batch
        if boundary is not None:
            band = boundary_mask(targets, boundary)
            band_correct += int((pred == targets)[band].sum())
            band_count += int(band.sum())
    model.train(was_training)
    if hist is None:
        return {"accuracy": correct / count}
    result = {**scores(hist), "confusion": hist}
    if boundary is not None:
        result["boundary_accuracy"] = band_correct / max(band_count, 1)
    return result
