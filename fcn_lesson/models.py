"""FCN-32s, FCN-16s and FCN-8s on a VGG-layout backbone, with crops derived by `geometry`.

All three share one skeleton and one set of module names (``backbone``,
``head``, ``score_fr``, ``score_pool4``, ``score_pool3``, ``upscore2``,
``upscore_pool4``, ``upscore``), so a trained FCN-32s can seed an FCN-16s and
that an FCN-8s (:meth:`FCN.from_coarser`), as in the paper's staged training.
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache

import torch
from torch import nn

from . import geometry
from .surgery import bilinear_upsampler

__all__ = ["FCN", "FCN8s", "FCN16s", "FCN32s", "LAYOUTS", "Layout", "MINI", "VGG16", "VGGClassifier", "check_images",
           "check_num_classes", "fit_layout", "layout_of", "score_parts", "score_weights", "uncropped_score",
           "under_autocast", "upsample", "vgg_backbone"]


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Layout:
    """The shape of a VGG-style network: five blocks of convolutions, each closed by a 2x2 max-pool.

    ``fc6_kernel`` is the side of pool5 on the classifier's native input, which
    is therefore ``32 * fc6_kernel`` pixels (224 for VGG16). ``padding`` is the
    FCN's first-layer padding. Either may be ``None``: :func:`fit_layout` then
    derives it from the geometry (the smallest values that work).
    """

    widths: tuple[int, ...]
    convs: tuple[int, ...]
    fc_width: int
    fc6_kernel: int | None = None
    batch_norm: bool = False
    dropout: float = 0.5
    padding: int | None = None

    def __post_init__(self):
        if len(self.widths) != 5 or len(self.convs) != 5:
            raise ValueError("a VGG layout has five blocks: give five widths and five conv counts")
        for name in ("widths", "convs"):
            if not all(_whole(value) and value >= 1 for value in getattr(self, name)):
                raise ValueError(f"a layout's {name} must be whole numbers >= 1, got {getattr(self, name)}")
        if not _whole(self.fc_width) or self.fc_width < 1:
            raise ValueError(f"a layout's fc_width must be a whole number >= 1, got {self.fc_width!r}")

    @property
    def native_size(self) -> int:
        """The input side on which the classifier's fc6 sees exactly one window."""
        return 32 * fit_layout(self).fc6_kernel


#: The exact VGG16 layout, with the reference code's padding of 100.
VGG16 = Layout(widths=(64, 128, 256, 512, 512), convs=(2, 2, 3, 3, 3), fc_width=4096,
               fc6_kernel=7, padding=100)
#: A narrow VGG-layout network that trains in minutes on a CPU; fc6 kernel and
#: padding are left to :func:`fit_layout`.
MINI = Layout(widths=(8, 16, 32, 64, 64), convs=(1, 1, 2, 2, 2), fc_width=128,
              batch_norm=True, dropout=0.0)
LAYOUTS = {"vgg16": VGG16, "mini": MINI}


def vgg_backbone(layout: Layout, padding: int = 1) -> nn.Sequential:
    """Five blocks ``block1`` .. ``block5``, each ending in a ceil-mode 2x2 max-pool.

    Only the first convolution gets ``padding``; the others pad by 1, so that
    3x3 convolutions keep the size. Pools round up (``ceil_mode``), as Caffe's
    do, which the crop arithmetic assumes.
    """
    blocks, channels = OrderedDict(), 3
    for block, (width, count) in enumerate(zip(layout.widths, layout.convs), start=1):
        layers = OrderedDict()
        for i in range(1, count + 1):
            pad = padding if (block, i) == (1, 1) else 1
            layers[f"conv{block}_{i}"] = nn.Conv2d(channels, width, 3, padding=pad)
            if layout.batch_norm:
                layers[f"bn{block}_{i}"] = nn.BatchNorm2d(width)
            layers[f"relu{block}_{i}"] = nn.ReLU(inplace=True)
            channels = width
        layers[f"pool{block}"] = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        blocks[f"block{block}"] = nn.Sequential(layers)
    return nn.Sequential(blocks)


def _head(layout: Layout) -> nn.Sequential:
    """fc6 and fc7 as convolutions (k x k, then 1 x 1), as convolutionalization leaves them.

    Dropout drops single activations, as after VGG's fc6/fc7 and in the paper's
    Caffe nets (not whole channels, which would drop whole score-map features).
    """
    return nn.Sequential(OrderedDict(
        fc6=nn.Conv2d(layout.widths[-1], layout.fc_width, layout.fc6_kernel),
        relu6=nn.ReLU(inplace=True),
        drop6=nn.Dropout(layout.dropout),
        fc7=nn.Conv2d(layout.fc_width, layout.fc_width, 1),
        relu7=nn.ReLU(inplace=True),
        drop7=nn.Dropout(layout.dropout),
    ))


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 score layer that starts at zero, so a new skip adds nothing until it learns."""
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class VGGClassifier(nn.Module):
    """The classifier an FCN starts from: ``features`` (the backbone), then fc6, fc7 and fc8 as Linear layers.

    It reads images of exactly ``layout.native_size`` pixels, where pool5 is
    ``fc6_kernel`` pixels wide, the window fc6 was made for.
    """

    def __init__(self, num_classes: int, *, backbone: str | Layout = "mini"):
        super().__init__()
        check_num_classes(num_classes)
        self.layout = fit_layout(layout_of(backbone))
        self.num_classes = num_classes
        k, width, fc = self.layout.fc6_kernel, self.layout.widths[-1], self.layout.fc_width
        self.features = vgg_backbone(self.layout)
        self.classifier = nn.Sequential(OrderedDict(
            flatten=nn.Flatten(),
            fc6=nn.Linear(width * k * k, fc), relu6=nn.ReLU(inplace=True), drop6=nn.Dropout(self.layout.dropout),
            fc7=nn.Linear(fc, fc), relu7=nn.ReLU(inplace=True), drop7=nn.Dropout(self.layout.dropout),
            fc8=nn.Linear(fc, num_classes),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.layout.native_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise ValueError(f"this classifier reads N x 3 x {size} x {size} images, got {tuple(x.shape)}; "
                             "for other sizes convolutionalize it into an FCN")
        _check_dtype(self, x)
        return self.classifier(self.features(x))


class FCN(nn.Module):
    """The common skeleton; use :class:`FCN32s`, :class:`FCN16s` or :class:`FCN8s`.

    ``skips`` is how many pooling layers (pool4, then pool3) are fused in.
    """

    skips = 0
    #: the at-once scaling of (pool4, pool3) features before their score layers
    AT_ONCE_SCALES = (0.01, 0.0001)

    def __init__(self, num_classes: int = 21, *, backbone: str | Layout = "vgg16",
                 padding: int | None = None, learnable_upsampling: bool = False,
                 at_once: bool = False):
        super().__init__()
        check_num_classes(num_classes)
        layout = fit_layout(layout_of(backbone))
        if padding is None:
            padding = layout.padding
        self.num_classes, self.layout, self.padding = num_classes, layout, padding
        self.learnable_upsampling, self.at_once = learnable_upsampling, at_once
        self.skip_scales = self.AT_ONCE_SCALES[:self.skips] if at_once else (1.0,) * self.skips

        self.backbone = vgg_backbone(layout, padding)
        self.head = _head(layout)
        self.score_fr = _zero_conv(layout.fc_width, num_classes)
        factor = 32
        if self.skips >= 1:
            self.score_pool4 = _zero_conv(layout.widths[3], num_classes)
            self.upscore2 = bilinear_upsampler(num_classes, 2, learnable=learnable_upsampling)
            factor = 16
        if self.skips >= 2:
            self.score_pool3 = _zero_conv(layout.widths[2], num_classes)
            self.upscore_pool4 = bilinear_upsampler(num_classes, 2, learnable=learnable_upsampling)
            factor = 8
        self.upscore = bilinear_upsampler(num_classes, factor, learnable=learnable_upsampling)
        self.crops = geometry.fusion_geometry(*self.geometry_paths()).crops
        self._sizes_checked: set[int] = set()

    def geometry_paths(self):
        """The ``(segments, upsamplers)`` that :func:`geometry.fusion_geometry` derives the crops from."""
        return _paths(self.skips, self.backbone, self.head, self.score_fr, self._upsamplers())

    def _upsamplers(self) -> list[nn.Module]:
        return [getattr(self, name) for name in ("upscore2", "upscore_pool4")[:self.skips]] + [self.upscore]

    def _check_input(self, x: torch.Tensor) -> None:
        check_images(self, x)
        for size in x.shape[2:]:
            if size not in self._sizes_checked:
                try:
                    geometry.fusion_geometry(*self.geometry_paths(), sizes=[size])
                except ValueError as err:
                    raise ValueError(f"this {type(self).__name__} (first-layer padding {self.padding}) "
                                     f"cannot take a side of {size} px: {err}") from None
                self._sizes_checked.add(size)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of the backbone's five blocks, pool1 to pool5: the maps the skips and fc6 read."""
        features = []
        for block in self.backbone:
            x = block(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        features = self.features(x)
        score = self.score_fr(self.head(features[4]))
        skip_inputs = [("score_pool4", features[3]), ("score_pool3", features[2])][:self.skips]
        for (score_layer, feature), scale, upsampler, crop in zip(
                skip_inputs, self.skip_scales, self._upsamplers(), self.crops):
            score = upsample(upsampler, score)
            skip = getattr(self, score_layer)(feature * scale if scale != 1 else feature)
            score = score + skip[:, :, crop:crop + score.shape[2], crop:crop + score.shape[3]]
        score = upsample(self.upscore, score)
        crop = self.crops[-1]
        return score[:, :, crop:crop + x.shape[2], crop:crop + x.shape[3]]

    @classmethod
    def from_coarser(cls, coarser: "FCN", *, learnable_upsampling: bool = False,
                     at_once: bool = False) -> "FCN":
        """Start this FCN from a trained coarser one (FCN-16s from FCN-32s, FCN-8s from FCN-16s).

        Every layer the two share is copied (backbone, fc6/fc7, the scores and
        the upsamplers of the same shape). The new skip's score layer starts at
        zero, so at first the new model predicts the coarser model's scores,
        only upsampled in two steps instead of one; training then teaches the
        skip what the coarse score misses.
        """
        if not isinstance(coarser, FCN) or coarser.skips != cls.skips - 1:
            want = {1: "FCN32s", 2: "FCN16s"}.get(cls.skips, "nothing")
            raise ValueError(f"{cls.__name__} starts from a trained {want}, got {type(coarser).__name__}")
        model = cls(coarser.num_classes, backbone=coarser.layout, padding=coarser.padding,
                    learnable_upsampling=learnable_upsampling, at_once=at_once)
        own = model.state_dict()
        shared = {k: v for k, v in coarser.state_dict().items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(shared, strict=False)
        return model.to(next(coarser.parameters()).device)


class FCN32s(FCN):
    """Score at stride 32, upsampled 32x in one step: the coarsest FCN."""

    skips = 0


class FCN16s(FCN):
    """FCN-32s plus a skip from pool4: fuse at stride 16, then upsample 16x."""

    skips = 1


class FCN8s(FCN):
    """FCN-16s plus a skip from pool3: fuse at stride 8, then upsample 8x."""

    skips = 2


SCORE_LAYERS = ("score_fr", "score_pool4", "score_pool3")


@contextmanager
def _score_layers_restored(model: FCN):
    """``model``'s score layers (coarsest first), put back as they were however the caller changes them."""
    layers = [getattr(model, name) for name in SCORE_LAYERS[:model.skips + 1]]
    saved = [(layer.weight.detach().clone(), layer.bias.detach().clone()) for layer in layers]
    try:
        yield layers
    finally:
        with torch.no_grad():
            for layer, (weight, bias) in zip(layers, saved):
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)


def score_weights(model: FCN, size: int) -> dict[str, torch.Tensor]:
    """The weight ``model``'s output gives each of its score layers, along the middle row of a
    ``size`` x ``size`` input (coarsest layer first).

    For each score layer in turn, that layer's scores are set to 1 everywhere (weights 0, bias 1)
    and the others' to 0: the output is then the weight the network gives that layer at every
    image pixel, through its upsamplers and crops. Only the layers' kernels, strides, paddings
    and crops count, so a one-channel backbone of the same layout gives the same rows. The score
    layers are restored afterwards.
    """
    rows = {}
    with _score_layers_restored(model) as layers, torch.no_grad():
        for name, chosen in zip(SCORE_LAYERS, layers):
            for layer in layers:
                layer.weight.zero_()
                layer.bias.fill_(1.0 if layer is chosen else 0.0)
            rows[name] = model(torch.zeros(1, 3, size, size))[0, 0, size // 2]
    return rows


def score_parts(model: FCN, images: torch.Tensor, batch_size: int = 32) -> list[torch.Tensor]:
    """``model``'s output on ``images`` as a sum of one term per score layer (coarsest first).

    Everything after the score layers (upsampling, cropping, adding) is linear, so the output
    splits exactly into what each score layer's scores, its bias included, contribute. Scaling a
    term scales that skip's contribution, with no retraining: chapter 7's slider does that. Each
    term comes from the output with the finer score layers set to zero; the layers are restored.
    """
    check_images(model, images)
    totals = []
    with _score_layers_restored(model) as layers, torch.no_grad():
        for kept in range(len(layers), 0, -1):
            for layer in layers[kept:]:
                layer.weight.zero_()
                layer.bias.zero_()
            totals.append(torch.cat([model(batch) for batch in images.split(batch_size)]))
    totals.reverse()  # coarsest alone first
    return [totals[0]] + [finer - coarser for coarser, finer in zip(totals, totals[1:])]


def uncropped_score(model: FCN, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """The last upsampler's output on ``images``, before the final crop: the output at any final
    crop offset ``c`` is its window ``[..., c:c + H, c:c + W]`` (chapter 5 slides that window)."""
    check_images(model, images)
    captured = []
    handle = model.upscore.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        with torch.no_grad():
            for batch in images.split(batch_size):
                model(batch)
    finally:
        handle.remove()
    return torch.cat(captured)


def check_num_classes(num_classes) -> None:
    """Refuse a class count that is not a whole number >= 2 (background and one class), naming it."""
    if not _whole(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be a whole number >= 2 (background and at least one class), "
                         f"got {num_classes!r}")


def check_images(model: nn.Module, x: torch.Tensor) -> None:
    """Refuse what is not a batch of RGB images in the model's floating-point type, saying how to fix it."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected a batch of RGB images shaped N x 3 x H x W, got {shape}"
                         " (add a batch dimension with x[None] for a single image)")
    _check_dtype(model, x)


def _check_dtype(model: nn.Module, x: torch.Tensor) -> None:
    """Refuse integer images and a float type other than the weights' (outside autocast), with the fix."""
    weights = next(model.parameters()).dtype
    if not x.is_floating_point():
        raise ValueError(f"expected normalised floating-point images, got {x.dtype}: convert pixels with "
                         "data.eval_transforms() (uint8 0..255 -> normalised float32)")
    if x.dtype != weights and not under_autocast(x):
        raise ValueError(f"the images are {x.dtype} but the weights are {weights}: "
                         f"pass x.to({weights}) (or convert the model with model.to({weights}))")


def under_autocast(x: torch.Tensor) -> bool:
    """Whether mixed precision (autocast) is on for ``x``'s device; never on the meta device, where
    nothing is computed (FLOPs are counted there without allocating a model)."""
    return x.device.type != "meta" and torch.is_autocast_enabled(x.device.type)


def upsample(upsampler: nn.Module, score: torch.Tensor) -> torch.Tensor:
    """Run a bilinear upsampler in the model's own type; under mixed precision, in float32.

    Under autocast the bilinear weights stay exact in float32, and CPUs have no
    fast bfloat16 transposed convolution with large kernels (32x: some 20 times
    slower). Outside autocast a float64, float16 or bfloat16 model upsamples in
    its type, so that its output has its weights' type.
    """
    if under_autocast(score):
        with torch.autocast(score.device.type, enabled=False):
            return upsampler(score.float())
    return upsampler(score)


def layout_of(backbone: str | Layout) -> Layout:
    """The :class:`Layout` that ``backbone`` names ("vgg16", "mini"), or ``backbone`` itself."""
    if isinstance(backbone, Layout):
        return backbone
    if not isinstance(backbone, str) or backbone not in LAYOUTS:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(LAYOUTS)} or pass a Layout")
    return LAYOUTS[backbone]


def _paths(skips, backbone, head, score_fr, upsamplers):
    """Split the network at pool3 and pool4 into the segments that feed skips."""
    blocks = list(backbone)
    cuts = {0: [5], 1: [4, 5], 2: [3, 4, 5]}[skips]
    segments, start = [], 0
    for cut in cuts:
        segments.append(blocks[start:cut])
        start = cut
    segments[-1] = segments[-1] + [head, score_fr]
    return segments, upsamplers


@lru_cache(maxsize=None)
def fit_layout(layout: Layout) -> Layout:
    """``layout`` with its missing fc6 kernel and padding derived from the geometry.

    The fc6 kernel is the smallest odd one for which some padding lets FCN-32s,
    -16s and -8s all take every input side from 1 px up; the padding is the
    smallest such, one for all three so that weights carry over between them.
    Odd follows VGG16's 7 (each fc6 output centred on a pool5 cell), a design
    choice: an even kernel can also fit (4 with padding 49 for the mini network,
    with whole crops). VGG16's 7 and 100 are given, not derived.
    """
    if layout.fc6_kernel is None:
        for kernel in range(1, 16, 2):
            try:
                return fit_layout(replace(layout, fc6_kernel=kernel))
            except ValueError:
                continue
        raise ValueError("no fc6 kernel up to 15 lets every crop fit; check the layout")
    if layout.padding is not None:
        return layout
    probe = replace(layout, widths=(1,) * 5, fc_width=1)  # widths do not move pixels

    def needed(skips: int) -> int:
        upsamplers = [bilinear_upsampler(1, 2) for _ in range(skips)]
        upsamplers.append(bilinear_upsampler(1, 32 >> skips))
        segments, upsamplers = _paths(skips, vgg_backbone(probe), _head(probe), nn.Identity(), upsamplers)
        return geometry.smallest_padding(segments, upsamplers, range(1, 65))

    return replace(layout, padding=max(needed(skips) for skips in (0, 1, 2)))

