"""What came after FCN, built on the book's backbone so that chapter 9 can compare them with FCN-8s.

Two descendants, each keeping FCN's three ideas in a later form:

* :class:`DilatedFCN`, the torchvision / DeepLab form: the last two pools keep
  the resolution (3x3, stride 1) and block5's convolutions are dilated by 2
  (chapter 4's rarefaction, stopped at output stride 8); a head of a 3x3
  convolution, batch norm, ReLU, dropout and a 1x1 classifier (torchvision's
  ``FCNHead``); bilinear interpolation to the input size instead of padding
  100 and crops.
* :class:`UNetFCN`, the U-Net form: from pool5 back up to the input, a learned
  2x upsampling at each scale, the encoder's map of that scale concatenated
  (not added), and two 3x3 convolutions to mix them.

Both start from the pre-trained classifier's backbone (``surgery.transplant_classifier``);
their heads and decoders start at random, as in the networks they imitate.
"""
from __future__ import annotations

import copy
import time
from collections import OrderedDict
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .models import Layout, check_images, check_num_classes, fit_layout, layout_of, under_autocast, vgg_backbone

__all__ = ["DilatedFCN", "UNetFCN", "count_flops", "dilated_backbone", "layer_costs", "time_methods",
           "torchvision_fcn"]


def dilated_backbone(layout: Layout) -> nn.Sequential:
    """The VGG backbone at output stride 8: pool4 and pool5 become 3x3 max-pools of stride 1 (padding 1)
    and block5's convolutions are dilated by 2, so that they still read pool4's grid."""
    backbone = vgg_backbone(layout, padding=1)
    for number in (4, 5):
        setattr(backbone[number - 1], f"pool{number}", nn.MaxPool2d(3, stride=1, padding=1))
    for module in backbone[4].modules():
        if isinstance(module, nn.Conv2d):
            module.dilation, module.padding = (2, 2), (2, 2)
    return backbone


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True)]


class DilatedFCN(nn.Module):
    """Dense prediction at output stride 8 by dilation; aligned by interpolating to the input's size."""

    def __init__(self, num_classes: int, *, backbone: str | Layout = "mini"):
        super().__init__()
        check_num_classes(num_classes)
        self.layout, self.num_classes = fit_layout(layout_of(backbone)), num_classes
        self.backbone = dilated_backbone(self.layout)
        width = self.layout.widths[-1]
        inner = width // 4  # torchvision's FCNHead narrows by four
        self.head = nn.Sequential(*_conv_bn_relu(width, inner), nn.Dropout(0.1),
                                  nn.Conv2d(inner, num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(self, x)
        score = self.head(self.backbone(x))
        if under_autocast(x):  # interpolate in float32 under mixed precision
            score = score.float()
        return F.interpolate(score, size=x.shape[2:], mode="bilinear", align_corners=False)


class _Up(nn.Module):
    """One decoder step: a learned 2x upsampling, the encoder's map of that scale concatenated, two 3x3
    convolutions. Ceil-mode pools leave the encoder's map up to one pixel smaller than the upsampled
    one; both start at the same place (their coordinate maps agree), so the extra pixel is cut at the end."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.mix = nn.Sequential(*_conv_bn_relu(out_channels + skip_channels, out_channels),
                                 *_conv_bn_relu(out_channels, out_channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)[:, :, :skip.shape[2], :skip.shape[3]]
        return self.mix(torch.cat([x, skip], dim=1))


class UNetFCN(nn.Module):
    """The encoder's five pooled maps, decoded from pool5 up by :class:`_Up` steps to the input's size."""

    def __init__(self, num_classes: int, *, backbone: str | Layout = "mini", narrowing: bool = False):
        super().__init__()
        check_num_classes(num_classes)
        self.layout, self.num_classes = fit_layout(layout_of(backbone)), num_classes
        self.backbone = vgg_backbone(self.layout, padding=1)
        widths = self.layout.widths
        # by default every decoder step is as wide as the deepest block, a choice (chapter 9); with
        # ``narrowing`` each step is as wide as the encoder block it joins, as in the original U-Net,
        # down to the first block's width at the input's scale (chapter 9 counts its FLOPs)
        outs = [widths[k] if narrowing else widths[-1] for k in (3, 2, 1, 0)]
        ins = [widths[-1], *outs[:-1]]
        self.decoder = nn.ModuleList(_Up(i, widths[k], o) for i, k, o in zip(ins, (3, 2, 1, 0), outs))
        width = outs[-1]
        self.final = nn.Sequential(OrderedDict(
            up=nn.ConvTranspose2d(width, width, 2, stride=2),
            mix=nn.Sequential(*_conv_bn_relu(width + 3, width)),
            score=nn.Conv2d(width, num_classes, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(self, x)
        pooled, y = [], x
        for block in self.backbone:
            y = block(y)
            pooled.append(y)
        y = pooled[4]
        for step, skip in zip(self.decoder, reversed(pooled[:4])):
            y = step(y, skip)
        y = self.final.up(y)[:, :, :x.shape[2], :x.shape[3]]
        return self.final.score(self.final.mix(torch.cat([y, x.to(y.dtype)], dim=1)))


def _check_images(model: nn.Module, x: torch.Tensor) -> None:
    check_images(model, x)
    if min(x.shape[2:]) < 32:
        raise ValueError(f"{type(model).__name__} needs images of at least 32 x 32 pixels (its pools "
                         f"halve the size five times), got {tuple(x.shape[2:])}")


def count_flops(model: nn.Module, height: int, width: int | None = None, channels: int = 3) -> int:
    """Floating-point operations of one forward pass on one ``height x width`` input of ``channels``
    (an RGB image by default, in the model's type), counted by PyTorch's ``FlopCounterMode`` (a multiply and
    an add are two). The pass runs on a copy of the model on the ``meta`` device: the counts come from
    the shapes alone, so no arithmetic is done (a VGG16 FCN at 500 x 500 is counted in a fraction of
    a second instead of seconds)."""
    dtype = next(model.parameters()).dtype
    shapes_only = copy.deepcopy(model).to("meta").eval()
    image = torch.zeros(1, channels, height, width or height, device="meta", dtype=dtype)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        shapes_only(image)
    return counter.get_total_flops()


def layer_costs(model: nn.Module, height: int, width: int | None = None, channels: int = 3
                ) -> dict[str, tuple[tuple[int, ...], int]]:
    """What each layer of ``model`` costs in one forward pass on one ``height x width`` input:
    ``{name: (output height and width, FLOPs)}`` for every leaf module that runs, by its name in
    ``model.named_modules()`` (``"backbone.block1.conv1_1"``), in the order they run. FLOPs as
    :func:`count_flops` counts them (pools and activations cost none), on the ``meta`` device: from the
    shapes alone. A layer whose input is smaller than its window raises, as it would in the model."""
    dtype = next(model.parameters()).dtype
    shapes_only = copy.deepcopy(model).to("meta").eval()
    costs, before = {}, {}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for name, module in shapes_only.named_modules():
            if name and not any(module.children()):
                module.register_forward_pre_hook(
                    lambda m, args, name=name: before.__setitem__(name, counter.get_total_flops()))
                module.register_forward_hook(lambda m, args, out, name=name: costs.__setitem__(
                    name, (tuple(out.shape[2:]), counter.get_total_flops() - before[name])))
        shapes_only(torch.zeros(1, channels, height, width or height, device="meta", dtype=dtype))
    return costs


def time_methods(methods: dict[str, Callable[[], object]], *, repeats: int = 5,
                 warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each of ``repeats`` runs of each no-argument callable, without gradients:
    ``{name: [seconds, ...]}``, run ``r`` of every method taken in round ``r``.

    Each method first runs ``warmup`` times untimed (the first call of a shape pays for memory
    and kernel choices). The methods then take turns within every round, in the given order in
    even rounds and reversed in odd ones, so that a busy moment of the machine, or a cache warmed
    by the method before, does not fall on one method alone, and round ``r``'s times can be
    compared with each other (a ratio per round: its spread over the rounds is the noise).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"time each method at least once, got repeats={repeats}, warmup={warmup}")
    times = {name: [] for name in methods}
    order = list(methods)
    with torch.no_grad():
        for name in order:
            for _ in range(warmup):
                methods[name]()
        for round_ in range(repeats):
            for name in order if round_ % 2 == 0 else order[::-1]:
                began = time.perf_counter()
                methods[name]()
                times[name].append(time.perf_counter() - began)
    return times


def torchvision_fcn(*, required: bool = True) -> tuple[nn.Module, bool]:
    """torchvision's ``fcn_resnet50`` with its trained weights (VOC's 21 classes), and whether they could
    be had (see :func:`surgery.trained_or_random`; offline, random weights still give its shapes,
    parameters and FLOPs)."""
    from torchvision.models.segmentation import FCN_ResNet50_Weights, fcn_resnet50

    from .surgery import trained_or_random

    return trained_or_random(
        lambda: fcn_resnet50(weights=FCN_ResNet50_Weights.DEFAULT),
        lambda: fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True),
        "fcn_resnet50's weights", required=required)
