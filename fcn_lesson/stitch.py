"""Shift-and-stitch, the dense-output trick the paper weighed against upsampling (its section 3.2).

A network of output stride ``f`` answers once per ``f`` input pixels. Run it
on the ``f x f`` copies of the input shifted by 0 to ``f - 1`` pixels up and
left, and interlace the answers, and you have one answer per pixel, at
``f**2`` times the cost. The same numbers come out of one pass of the network
*rarefied*: every stride set to 1 and every later filter dilated by the
stride removed before it (the paper's "filter rarefaction", today's dilated or
"a trous" convolution). Chapter 4 checks that the two agree and measures both
against upsampling.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import geometry

__all__ = ["costs", "rarefy", "shift_and_stitch"]

_STRIDED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def shift_and_stitch(net: nn.Module, image: torch.Tensor, factor: int) -> torch.Tensor:
    """One output per input pixel from ``net`` of output stride ``factor``: ``factor**2`` shifted passes.

    Output pixel ``(factor * i + dy, factor * j + dx)`` is output ``(i, j)`` of
    the input moved ``dy`` pixels up and ``dx`` left (zeros come in at the
    bottom and right), so each answer lands on the first pixel of its window.
    """
    if image.dim() != 4:
        raise ValueError(f"expected a batch N x C x H x W, got a tensor of shape {tuple(image.shape)}")
    stride = geometry.coord_map(net).scale
    if stride != factor:
        raise ValueError(f"the network's output stride is {stride}, not {factor}: shift by its stride")
    height, width = image.shape[2:]
    if height % factor or width % factor:
        raise ValueError(f"the image is {height} x {width}; both sides must be multiples of {factor}")
    stitched = None
    for dy in range(factor):
        for dx in range(factor):
            shifted = F.pad(image[:, :, dy:, dx:], (0, dx, 0, dy))
            out = net(shifted)
            if stitched is None:
                stitched = out.new_zeros(out.shape[0], out.shape[1], out.shape[2] * factor,
                                         out.shape[3] * factor)
            stitched[:, :, dy::factor, dx::factor] = out
    return stitched


def rarefy(net: nn.Sequential) -> nn.Sequential:
    """A copy of ``net`` with every stride set to 1 and every later layer dilated to match.

    A layer after strides totalling ``d`` reads every ``d``-th pixel of the
    now full-resolution map: its dilation and padding are multiplied by ``d``.
    The result has output stride 1 and, away from the borders, computes what
    :func:`shift_and_stitch` computes.
    """
    rarefied, dilation = copy.deepcopy(net), 1
    for layer in geometry.leaves(rarefied):
        if not isinstance(layer, _STRIDED):
            continue
        if isinstance(layer, nn.AvgPool2d):
            raise ValueError("AvgPool2d has no dilation: use a MaxPool2d or a strided convolution")
        stride, padding = layer.stride, layer.padding
        stride = stride if isinstance(stride, int) else stride[0]
        padding = padding if isinstance(padding, int) else padding[0]
        if getattr(layer, "ceil_mode", False):
            raise ValueError(f"{layer} pools in ceil mode; rarefy a network that floors")
        if isinstance(layer, nn.Conv2d):
            layer.dilation = (dilation * layer.dilation[0],) * 2
        else:
            layer.dilation = dilation
        layer.padding = (padding * dilation,) * 2 if isinstance(layer, nn.Conv2d) else padding * dilation
        layer.stride = (1, 1) if isinstance(layer, nn.Conv2d) else 1
        dilation *= stride
    return rarefied


def costs(methods: dict[str, Callable[[], object]], rounds: int = 3) -> dict[str, tuple[int, float]]:
    """``{name: (floating-point operations, best seconds)}`` for each no-argument callable, without gradients.

    The operations are counted once with PyTorch's ``FlopCounterMode``; the
    time is the best of ``rounds`` runs, the methods taking turns in every
    round, so that a busy moment of the machine does not fall on one alone.
    """
    if rounds < 1:
        raise ValueError(f"time each method at least once, got rounds={rounds}")
    flops, times = {}, {name: [] for name in methods}
    with torch.no_grad():
        for name, method in methods.items():
            with FlopCounterMode(display=False) as counter:
                method()
            flops[name] = counter.get_total_flops()
        for _ in range(rounds):
            for name, method in methods.items():
                began = time.perf_counter()
                method()
                times[name].append(time.perf_counter() - began)
    return {name: (flops[name], min(times[name])) for name in methods}
