"""Weight surgery: the bilinear upsampling kernel, convolutionalization, VGG16 transplant.

These are the moves the paper makes on a trained classifier to turn it into a
dense predictor without retraining from scratch: reshape the fully connected
layers into convolutions, and initialise the upsampling layers so that they
start out as bilinear interpolation.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import Callable

import torch
from torch import nn

from .geometry import receptive_field

__all__ = [
    "bilinear_kernel",
    "bilinear_upsampler",
    "bilinear_weight",
    "caffe_input",
    "convolutionalize",
    "imagenet_vgg16",
    "misalignment",
    "trained_or_random",
    "transplant_classifier",
    "transplant_vgg16",
    "upsample_row",
]


def bilinear_kernel(size: int) -> torch.Tensor:
    """The ``size x size`` kernel whose transposed convolution interpolates bilinearly.

    In one dimension it is a tent: weight ``1 - |t - c| / f`` at tap ``t``, with
    centre ``c = (size - 1) / 2`` and ``f = ceil(size / 2)``, the upsampling
    factor it is made for (kernel ``2f`` for factor ``f``). Neighbouring tents,
    ``f`` apart, sum to one, which is why a stride-``f`` transposed convolution
    with it reproduces linear interpolation. The 2-D kernel is the outer product.
    """
    if size < 1:
        raise ValueError(f"a kernel needs size >= 1, got {size}")
    factor = (size + 1) // 2
    centre = (size - 1) / 2
    taps = torch.arange(size, dtype=torch.float64)
    tent = 1 - (taps - centre).abs() / factor
    return torch.outer(tent, tent).float()


def bilinear_weight(channels: int, size: int) -> torch.Tensor:
    """ConvTranspose2d weight (channels, channels, size, size) that upsamples each channel on its own."""
    weight = torch.zeros(channels, channels, size, size)
    weight[range(channels), range(channels)] = bilinear_kernel(size)
    return weight


def bilinear_upsampler(channels: int, factor: int, *, padding: int = 0,
                       learnable: bool = False) -> nn.ConvTranspose2d:
    """A stride-``factor`` transposed convolution (kernel ``2 * factor``) initialised bilinear.

    With ``padding = factor // 2`` (even factor) it equals ``F.interpolate(...,
    scale_factor=factor, mode="bilinear")`` away from the borders; the FCNs use
    ``padding=0`` and crop instead. Fixed (no gradient) unless ``learnable``.
    """
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor,
                               padding=padding, bias=False)
    with torch.no_grad():
        layer.weight.copy_(bilinear_weight(channels, 2 * factor))
    layer.weight.requires_grad_(learnable)
    return layer


def upsample_row(upsampler: nn.ConvTranspose2d, row: torch.Tensor) -> torch.Tensor:
    """One row of values through a one-channel 2-D upsampler, as a 1-D upsampling: the row repeated
    over three rows goes in, and the middle output row, where a bilinear kernel's taps down each
    column sum to one, comes out."""
    with torch.no_grad():
        out = upsampler(row.expand(1, 1, 3, -1))
    return out[0, 0, out.shape[2] // 2]


def caffe_input(conv: nn.Conv2d) -> nn.Conv2d:
    """A copy of a first convolution trained on torchvision's input that reads Caffe's instead.

    torchvision feeds RGB in [0, 1], normalised by ``data.IMAGENET_MEAN`` and
    ``IMAGENET_STD``; the paper's Caffe VGG16 read BGR in 0-255 minus
    ``data.CAFFE_MEAN_BGR``. Both are per-channel affine maps of the same
    pixels, so the weights are divided by 255 x std and put in BGR order, and
    the constant the two means leave behind goes into the bias. The copy
    gives the same outputs on :func:`data.to_caffe_input` of an image, except
    where its zero padding reaches in (zero is not the same colour in the two
    conventions). Its weights then have Caffe's units, those the reference
    solvers' learning rates were used with (chapter 8).
    """
    from .data import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

    if not isinstance(conv, nn.Conv2d) or conv.in_channels != 3:
        raise ValueError(f"expected the first convolution of an RGB network (3 input channels), got {conv}")
    std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
    caffe_mean_rgb = torch.tensor(CAFFE_MEAN_BGR).flip(0)
    converted = copy.deepcopy(conv)
    with torch.no_grad():
        weight = conv.weight / (255 * std).view(1, 3, 1, 1)
        converted.weight.copy_(weight.flip(1))
        # what the constant part of each channel, (caffe mean / 255 - mean) / std, adds to each output
        constant = (caffe_mean_rgb / 255 - mean) / std
        shift = (conv.weight.sum((2, 3)) * constant).sum(1)
        if converted.bias is None:
            converted.bias = nn.Parameter(shift)
        else:
            converted.bias.copy_(conv.bias + shift)
    return converted


def convolutionalize(linear: nn.Linear, in_channels: int, kernel_size: int) -> nn.Conv2d:
    """The ``Conv2d`` that computes what ``linear`` computes on a flattened C x k x k input.

    ``nn.Flatten`` orders a feature map channel-major (C, then rows, then
    columns), so the Linear weight row for one output is exactly a C x k x k
    filter: a reshape, not a retraining. On a larger input the convolution
    slides that filter and gives one classification per window.
    """
    expected = in_channels * kernel_size * kernel_size
    if linear.in_features != expected:
        raise ValueError(f"a Linear with {linear.in_features} inputs cannot read a "
                         f"{in_channels} x {kernel_size} x {kernel_size} map ({expected} values); "
                         "check in_channels and kernel_size against the layer before it")
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size, bias=linear.bias is not None)
    conv = conv.to(device=linear.weight.device, dtype=linear.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.reshape(conv.weight.shape))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv


def trained_or_random(trained: Callable[[], nn.Module], random: Callable[[], nn.Module], what: str, *,
                      required: bool, hint: str = "") -> tuple[nn.Module, bool]:
    """``trained()`` (a torchvision model whose weights download once into torch's cache), and True; offline,
    a ``ConnectionError`` naming ``what`` and how to get it if ``required``, else ``random()`` and False:
    the same architecture, for what depends on the architecture only."""
    try:
        return trained(), True
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a broken download a RuntimeError
        if required:
            raise ConnectionError(f"could not get {what} ({err}). Connect to the internet once (they are "
                                  f"cached in ~/.cache/torch/hub/checkpoints){hint}") from None
    return random(), False


def imagenet_vgg16(*, required: bool = True) -> tuple[nn.Module, bool]:
    """torchvision's VGG16 with its ImageNet weights (528 MB), and whether they could be had
    (see :func:`trained_or_random`)."""
    from torchvision.models import VGG16_Weights, vgg16

    return trained_or_random(lambda: vgg16(weights=VGG16_Weights.IMAGENET1K_V1), lambda: vgg16(weights=None),
                             "VGG16's ImageNet weights", required=required,
                             hint=", or copy vgg16-397923af.pth there by hand")


def transplant_classifier(fcn: nn.Module, classifier: nn.Module) -> nn.Module:
    """Start ``fcn`` from a trained ``models.VGGClassifier``, in place: the backbone as it is,
    fc6 and fc7 convolutionalized. fc8 is left behind: its classes are not the FCN's. A network
    without fc6 and fc7 (chapter 9's descendants, whose heads are their own) gets the backbone only."""
    try:
        fcn.backbone.load_state_dict(classifier.features.state_dict())
    except RuntimeError as err:
        raise ValueError(f"the classifier's backbone does not fit the FCN's ({str(err).splitlines()[0]}); "
                         "build both with the same backbone layout") from None
    if not hasattr(getattr(fcn, "head", None), "fc6"):
        return fcn
    k, width = fcn.head.fc6.kernel_size[0], fcn.head.fc6.in_channels
    for name in ("fc6", "fc7"):
        source, target = getattr(classifier.classifier, name), getattr(fcn.head, name)
        conv = convolutionalize(source, width if name == "fc6" else source.in_features, k if name == "fc6" else 1)
        if conv.weight.shape != target.weight.shape:
            raise ValueError(f"{name}: the classifier gives {tuple(conv.weight.shape)}, the FCN expects "
                             f"{tuple(target.weight.shape)}; build both with the same backbone layout")
        target.load_state_dict(conv.state_dict())
    return fcn


def transplant_vgg16(fcn: nn.Module, vgg16: nn.Module) -> nn.Module:
    """Copy the 13 convolutions and fc6/fc7 of a torchvision VGG16 into ``fcn``, in place.

    Convolutions are matched in network order by walking every module (not by
    zipping lists of blocks, which silently matches nothing when the blocks are
    containers). fc6 and fc7 are convolutionalized. Any shape mismatch raises a
    ``ValueError`` before anything is copied, naming the layer.
    """
    source_convs = [m for m in vgg16.features.modules() if isinstance(m, nn.Conv2d)]
    target_convs = [m for m in fcn.backbone.modules() if isinstance(m, nn.Conv2d)]
    if len(source_convs) != 13 or len(target_convs) != 13:
        raise ValueError(f"VGG16 has 13 convolutions; the source has {len(source_convs)} and the FCN "
                         f"{len(target_convs)}: build the FCN with backbone='vgg16'")
    fc6, fc7 = vgg16.classifier[0], vgg16.classifier[3]
    pairs = [(f"conv {i + 1}", s, t) for i, (s, t) in enumerate(zip(source_convs, target_convs))]
    pairs += [("fc6", fc6, fcn.head.fc6), ("fc7", fc7, fcn.head.fc7)]
    for name, source, target in pairs:
        # a Linear source is read as the flattened form of the target's filters
        expected = target.weight.shape if isinstance(source, nn.Conv2d) else target.weight.flatten(1).shape
        if source.weight.shape != expected:
            raise ValueError(f"{name}: VGG16 has weight {tuple(source.weight.shape)}, the FCN expects "
                             f"{tuple(expected)}; build the FCN with backbone='vgg16'")
    with torch.no_grad():
        for _, source, target in pairs:
            target.weight.copy_(source.weight.reshape(target.weight.shape))
            target.bias.copy_(source.bias)
    return fcn


def misalignment(model: nn.Module) -> tuple[float, float]:
    """Measure, in pixels, how far ``model``'s output grid lies from its input grid: (rows, columns).

    A probe with ``model``'s geometry and crops is given weights that make it
    copy two coordinate ramps: channel 0 holds each pixel's row, channel 1 its
    column. Every convolution averages symmetrically around its centre, every
    pool averages (max-pooling a ramp would pick a window's edge), the score
    layers share the sum between the paths, and bilinear upsampling reproduces
    a ramp exactly. Away from the borders an aligned FCN therefore returns its
    input unchanged, a final crop that is off by ``d`` returns the ramp shifted by
    ``d``, and a skip crop that is off shifts only that path's share of the sum.
    The result is the shift, averaged over the interior.
    """
    layout = replace(model.layout, widths=(2,) * 5, fc_width=2, batch_norm=False, dropout=0.0)
    probe = type(model)(2, backbone=layout, padding=model.padding).eval()
    probe.crops = model.crops
    scores = [getattr(probe, name) for name in ("score_fr", "score_pool4", "score_pool3") if hasattr(probe, name)]
    for block in probe.backbone:
        for name, layer in block.named_children():
            if isinstance(layer, nn.MaxPool2d):
                setattr(block, name, nn.AvgPool2d(layer.kernel_size, layer.stride, ceil_mode=layer.ceil_mode))
    with torch.no_grad():
        for layer in probe.modules():
            if isinstance(layer, nn.Conv2d):
                k = layer.kernel_size[0]
                layer.weight.zero_()
                layer.bias.zero_()
                for c in range(2):
                    layer.weight[c, c] = 1 / len(scores) if layer in scores else 1 / (k * k)
    segments, upsamplers = probe.geometry_paths()
    margin = receptive_field([layer for segment in segments for layer in segment] + list(upsamplers))
    size = 2 * margin + 32
    ramp = torch.arange(size, dtype=torch.float32)
    image = torch.stack([ramp[:, None].expand(size, size), ramp[None, :].expand(size, size),
                         torch.zeros(size, size)])[None]
    with torch.no_grad():
        out = probe(image)[0, :2, margin:-margin, margin:-margin]
    shift = out - image[0, :2, margin:-margin, margin:-margin]
    return float(shift[0].mean()), float(shift[1].mean())
