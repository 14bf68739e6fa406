"""Every model the book trains, by name, and the description that rebuilds one: what a checkpoint stores.

A model joins the book by an entry in :data:`MODELS`; :func:`model_spec` and
:func:`build_model` then carry it through checkpoints, plans and the command
line. Kept apart from :mod:`models` so that the FCNs and their descendants
(:mod:`descendants`) both sit below it, with no import circle.
"""
from __future__ import annotations

from dataclasses import asdict

from torch import nn

from .descendants import DilatedFCN, UNetFCN
from .models import FCN, FCN8s, FCN16s, FCN32s, Layout, VGGClassifier

__all__ = ["MODELS", "SEGMENTATION_MODELS", "build_model", "model_spec"]

#: Every model the book trains, by the name its checkpoints and the command line use.
MODELS = {"classifier": VGGClassifier, "fcn32s": FCN32s, "fcn16s": FCN16s, "fcn8s": FCN8s,
          "dilated": DilatedFCN, "unet": UNetFCN}
#: The names of those that label every pixel (all but the classifier).
SEGMENTATION_MODELS = tuple(name for name in MODELS if name != "classifier")


def model_spec(model: nn.Module) -> dict:
    """What rebuilds ``model`` (without its weights): its name in :data:`MODELS` and constructor arguments.

    Checkpoints store it, so that a file alone says which network it holds.
    """
    model = getattr(model, "module", model)  # a DistributedDataParallel wrapper holds the model
    names = {cls: name for name, cls in MODELS.items()}
    if type(model) not in names:
        raise ValueError(f"a {type(model).__name__} is none of the book's models ({', '.join(MODELS)})")
    spec = {"name": names[type(model)], "num_classes": model.num_classes, "layout": asdict(model.layout)}
    if isinstance(model, FCN):
        spec.update(padding=model.padding, learnable_upsampling=model.learnable_upsampling,
                    at_once=model.at_once)
    return spec


def build_model(spec: dict) -> nn.Module:
    """The untrained model that :func:`model_spec` describes; a ``ValueError`` if it describes none."""
    try:
        options = dict(spec)
        cls = MODELS[options.pop("name")]
        layout = options.pop("layout")
        layout = Layout(**{**layout, "widths": tuple(layout["widths"]), "convs": tuple(layout["convs"])})
        return cls(options.pop("num_classes"), backbone=layout, **options)
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"not a model description of fcn_lesson ({type(err).__name__}: {err})") from None
