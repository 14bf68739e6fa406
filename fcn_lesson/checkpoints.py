"""Checkpoints that describe themselves, written so that no crash loses one.

A checkpoint holds the model's description (:func:`models.model_spec`), its
weights, and what made it: the training configuration, the fingerprint of the
run (configuration, model, where the weights started, which data), the epochs
done and the history. So :func:`load_model` needs nothing but the path, and a
training run can tell whether an existing file was made by the same run
(resume it) or by another one (refuse, naming what changed).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from .registry import build_model, model_spec

__all__ = ["FORMAT", "finished_run", "fingerprint", "load_checkpoint", "load_model", "read_checkpoint",
           "rebuild_model", "save_checkpoint", "strip_checkpoint", "write_atomic"]

#: Bumped when the layout of a checkpoint changes; older files are refused with a message.
FORMAT = 2
_REQUIRED = ("format", "model", "state_dict", "epoch", "epochs", "history", "config", "fingerprint")


def fingerprint(description: dict) -> str:
    """A short hash of a JSON-able description: equal descriptions, equal fingerprints."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_atomic(state: dict, path: str | Path) -> Path:
    """Save to a temporary file beside ``path``, then rename: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def save_checkpoint(path: str | Path, model: nn.Module, **entries) -> Path:
    """Write ``model``'s description and weights, and ``entries`` (epoch, history, ...), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "model": model_spec(model),
             "state_dict": getattr(model, "module", model).state_dict(), **entries}
    return write_atomic(state, path)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The checkpoint at ``path`` as a dict, after checking that it is one this module wrote."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: pass a .pt file written by "
                                "`python -m fcn_lesson train` (or train one first)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}: it is damaged, or was "
                         "not written by torch.save); pass a .pt file written by `python -m fcn_lesson train`"
                         ) from None
    if not isinstance(state, dict) or "format" not in state:
        raise ValueError(f"{path} was not written by fcn_lesson; pass a checkpoint from "
                         "`python -m fcn_lesson train`")
    if state["format"] != FORMAT:
        raise ValueError(f"{path} was written by another version of fcn_lesson (checkpoint format "
                         f"{state['format']}, this one reads {FORMAT}); train it again")
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: it is damaged or was not written by "
                         "fcn_lesson; train it again")
    return state


def finished_run(path: str | Path) -> dict | None:
    """The checkpoint at ``path`` if it holds a run that trained all its epochs; None if there is no file
    or the run stopped early (a resumable run is not a result)."""
    if not Path(path).is_file():
        return None
    state = read_checkpoint(path)
    return state if state["epoch"] >= state["epochs"] else None


def load_checkpoint(path: str | Path, model: nn.Module, map_location: str | torch.device = "cpu") -> dict:
    """Load the weights at ``path`` into ``model``; return the checkpoint's other entries.

    Refuses, naming both, a checkpoint of another model (class, classes,
    layout, padding, at-once scaling), rather than failing inside
    ``load_state_dict``.
    """
    state = read_checkpoint(path, map_location)
    expected = model_spec(model)
    if state["model"] != expected:
        raise ValueError(f"{path} holds a {_summary(state['model'])}, but this model is a "
                         f"{_summary(expected)}: build the model the checkpoint was trained as "
                         "(fcn_lesson.checkpoints.load_model does), or pass another checkpoint")
    _check_tensors(getattr(model, "module", model), state["state_dict"], path)
    _load_weights(getattr(model, "module", model), state.pop("state_dict"), path)
    return state


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """The model saved at ``path``, rebuilt from the description the file holds, in eval mode."""
    return rebuild_model(read_checkpoint(path, map_location), path)


def rebuild_model(state: dict, path: str | Path) -> nn.Module:
    """The model a checkpoint ``state`` (read from ``path``) describes, with its weights, in eval mode.

    The description is first built on the meta device (no memory) and checked
    against the stored tensors, so that a damaged or crafted description cannot
    ask for gigabytes before it is refused.
    """
    try:
        with torch.device("meta"):
            skeleton = build_model(state["model"])
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    _check_tensors(skeleton, state["state_dict"], path)
    model = build_model(state["model"])
    _load_weights(model, state["state_dict"], path)
    return model.to(next(iter(state["state_dict"].values())).device).eval()


def strip_checkpoint(path: str | Path) -> Path:
    """Rewrite a finished checkpoint for shipping, not resuming, atomically: no optimizer state, and
    the learned weights in half precision (loading casts them back); fixed buffers such as the
    bilinear kernels and the normalisation statistics stay exact."""
    state = read_checkpoint(path)
    state.pop("optimizer", None)
    state.pop("lr_scheduler", None)
    learned = {name for name, parameter in build_model(state["model"]).named_parameters()
               if parameter.requires_grad}
    state["state_dict"] = {name: tensor.half() if name in learned and tensor.is_floating_point() else tensor
                           for name, tensor in state["state_dict"].items()}
    return write_atomic(state, path)


def _check_tensors(model: nn.Module, state_dict: dict, path) -> None:
    """Refuse weights whose names or shapes are not ``model``'s, and weights that are not finite."""
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    stored = {name: tuple(tensor.shape) for name, tensor in state_dict.items() if isinstance(tensor, torch.Tensor)}
    if stored != expected:
        name = min({*expected, *stored} - {n for n in expected if stored.get(n) == expected[n]})
        raise ValueError(f"{path} does not fit its own model description ({name}: stored "
                         f"{stored.get(name, 'nothing')}, the model has {expected.get(name, 'nothing')}): "
                         "the file is damaged; pass another checkpoint or train it again into a new folder")
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"{path} holds weights that are not finite (NaN or infinity, first in {name}): "
                             "the run that made it diverged; train again with a lower learning rate")


def _load_weights(model: nn.Module, state_dict: dict, path) -> None:
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as err:  # missing, unexpected or misshapen tensors
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ValueError(f"{path} does not fit its own model description ({first}): "
                         "the file is damaged; pass another checkpoint or train it again into a new folder"
                         ) from None


def _summary(spec: dict) -> str:
    parts = [f"{spec.get('name')} with {spec.get('num_classes')} classes"]
    if "layout" in spec:
        parts.append(f"widths {tuple(spec['layout']['widths'])}")
    if "padding" in spec:
        parts.append(f"padding {spec['padding']}" + (", at once" if spec.get("at_once") else ""))
    return ", ".join(parts)
