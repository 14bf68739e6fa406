"""Where each feature-map pixel sits in the input image, derived from the layers.

An FCN adds maps of different resolutions, so it must know, for every layer, how
its output grid lies over the input image. For the layers an FCN uses, output
pixel ``i`` is centred on input position ``scale * i + offset``: a
:class:`CoordMap`. Maps compose through a network, and two maps of equal scale
differ by a constant shift, which is the crop that aligns them (the idea of
Caffe's ``coord_map.py``). Nothing here is typed in from the paper: the crops
19, 5, 27, 9 and 31 of the VGG16 FCNs come out of these functions.

Layers are given as a module, an ``nn.Sequential`` (followed recursively) or a
list of either. Only square kernels, strides and paddings are supported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence, Union

from torch import nn

__all__ = [
    "CoordMap",
    "FusedSpans",
    "FusionGeometry",
    "coord_map",
    "crop_offset",
    "fused_spans",
    "fusion_geometry",
    "interpolation_misalignment",
    "layer_map",
    "layer_table",
    "leaves",
    "output_size",
    "receptive_field",
    "smallest_padding",
]

Layers = Union[nn.Module, Sequence[nn.Module]]

# Layers that leave every pixel where it is.
_PASS_THROUGH = (
    nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.Identity,
    nn.Dropout, nn.Dropout2d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d,
)


@dataclass(frozen=True)
class CoordMap:
    """Output pixel ``i`` is centred on input coordinate ``scale * i + offset``.

    Exact fractions, because the questions asked of a map ("is this offset an
    integer?") must not depend on rounding.
    """

    scale: Fraction = Fraction(1)
    offset: Fraction = Fraction(0)

    def __call__(self, i):
        return self.scale * i + self.offset

    def then(self, inner: "CoordMap") -> "CoordMap":
        """The map of a layer with map ``inner`` placed after this one."""
        return CoordMap(self.scale * inner.scale, self.scale * inner.offset + self.offset)

    def __str__(self) -> str:
        return f"x = {_fmt(self.scale)}·i {'-' if self.offset < 0 else '+'} {_fmt(abs(self.offset))}"


def _fmt(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{float(q):g}"


def _square(value, name: str, layer: nn.Module) -> int:
    """One number from an int or an (h, w) pair, refusing non-square settings."""
    if isinstance(value, str):
        raise ValueError(f"{layer}: padding={value!r} is not supported; give the padding as a number")
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(f"{layer}: non-square {name} {tuple(value)} is not supported; "
                             "the book's geometry treats height and width alike")
        value = value[0]
    return int(value)


def _conv_like(layer: nn.Module):
    """(kernel extent, stride, padding) of a convolution, pooling or transposed convolution."""
    k = _square(layer.kernel_size, "kernel_size", layer)
    s = _square(layer.stride if layer.stride is not None else k, "stride", layer)
    p = _square(layer.padding, "padding", layer)
    d = _square(getattr(layer, "dilation", 1), "dilation", layer)
    return d * (k - 1) + 1, s, p


def leaves(layers: Layers) -> list[nn.Module]:
    """Flatten nested Sequentials and lists into the layers data flows through, in order."""
    if isinstance(layers, nn.Module) and not isinstance(layers, (nn.Sequential, nn.ModuleList)):
        if any(True for _ in layers.children()):
            raise ValueError(
                f"cannot follow coordinates through a {type(layers).__name__} with sub-modules; "
                "pass its layers as a list or an nn.Sequential instead")
        return [layers]
    out: list[nn.Module] = []
    for item in layers:
        out.extend(leaves(item))
    return out


def layer_map(layer: nn.Module) -> CoordMap:
    """The coordinate map of one layer (Conv2d, MaxPool2d, AvgPool2d, ConvTranspose2d or pass-through)."""
    if isinstance(layer, nn.ConvTranspose2d):
        k, s, p = _conv_like(layer)
        # input pixel i spreads over outputs s*i - p ... s*i - p + k - 1, centred at s*i - p + (k-1)/2
        return CoordMap(Fraction(1, s), Fraction(2 * p - (k - 1), 2 * s))
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = _conv_like(layer)
        # output pixel i reads inputs s*i - p ... s*i - p + k - 1, centred at s*i - p + (k-1)/2
        return CoordMap(Fraction(s), Fraction(k - 1, 2) - p)
    if isinstance(layer, _PASS_THROUGH):
        return CoordMap()
    raise ValueError(f"no coordinate map for {type(layer).__name__}; "
                     "supported: Conv2d, MaxPool2d, AvgPool2d, ConvTranspose2d and pointwise layers")


def coord_map(layers: Layers) -> CoordMap:
    """Compose the maps of ``layers`` (applied in order): output pixel -> input coordinate."""
    total = CoordMap()
    for layer in leaves(layers):
        total = total.then(layer_map(layer))
    return total


def crop_offset(source: CoordMap, target: CoordMap, *,
                fix: str = "pad the layers that make the map to crop more") -> int:
    """Where to start cropping a map laid out by ``source`` so it lies exactly on ``target``.

    Both maps must have the same scale, and the shift between them must be a
    whole, non-negative number of pixels: otherwise no crop can align them and
    a ``ValueError`` says which condition failed (a negative shift: ending with
    ``fix``, what the caller knows will cure it).
    """
    if source.scale != target.scale:
        raise ValueError(f"cannot crop between scales {_fmt(source.scale)} and {_fmt(target.scale)}: "
                         "upsample one of the maps first")
    shift = (target.offset - source.offset) / source.scale
    if shift.denominator != 1:
        raise ValueError(f"the maps are {float(shift):g} pixels apart, not a whole number: "
                         "no crop aligns them (an even kernel somewhere gives half-pixel offsets)")
    if shift < 0:
        raise ValueError(f"the map to crop starts {-shift} px inside the target: it is too small "
                         f"to be cropped onto it ({fix})")
    return int(shift)


def receptive_field(layers: Layers) -> int:
    """Side of the input window that one output pixel of ``layers`` can see.

    A transposed convolution of kernel k and stride s lets an output pixel see
    up to ceil(k / s) of its input pixels.
    """
    size, jump = Fraction(1), Fraction(1)
    for layer in leaves(layers):
        if isinstance(layer, nn.ConvTranspose2d):
            k, s, _ = _conv_like(layer)
            size += (math.ceil(k / s) - 1) * jump
            jump /= s
        elif isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, _ = _conv_like(layer)
            size += (k - 1) * jump
            jump *= s
        else:
            layer_map(layer)  # refuses unknown layers
    return math.ceil(size)


def _layer_size(layer: nn.Module, n: int) -> int:
    if isinstance(layer, nn.ConvTranspose2d):
        k, s, p = _conv_like(layer)
        out_pad = _square(layer.output_padding, "output_padding", layer)
        return (n - 1) * s - 2 * p + k + out_pad
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = _conv_like(layer)
        span = n + 2 * p - k
        if span < 0:
            return 0
        if getattr(layer, "ceil_mode", False):
            out = -(-span // s) + 1
            if (out - 1) * s >= n + p:  # PyTorch: the last window must start inside the input
                out -= 1
            return out
        return span // s + 1
    layer_map(layer)  # refuses unknown layers
    return n


def output_size(layers: Layers, size: int, names: dict | None = None) -> int:
    """Height (or width) of the output of ``layers`` for an input of side ``size``.

    Raises ``ValueError`` naming the first layer whose output would be empty: by its
    name in ``names`` (a layer -> name mapping, e.g. from a model's ``named_modules()``)
    where given, else by its index and repr.
    """
    n = size
    for index, layer in enumerate(leaves(layers)):
        n = _layer_size(layer, n)
        if n < 1:
            where = (f"{names[layer]} (layer {index}, a {type(layer).__name__})" if names and layer in names
                     else f"layer {index} ({layer})")
            raise ValueError(f"an input of {size} px leaves nothing after {where}; "
                             "use a larger input or more padding in the first layer")
    return n


def layer_table(layers: Layers, size: int) -> list[dict]:
    """One row per layer: its output size, stride, offset and receptive field for an input of ``size``."""
    rows, prefix = [], []
    for index, layer in enumerate(leaves(layers)):
        prefix.append(layer)
        cmap = coord_map(prefix)
        rows.append({
            "index": index,
            "layer": type(layer).__name__,
            "size": output_size(prefix, size),
            "stride": _fmt(cmap.scale),
            "offset": _fmt(cmap.offset),
            "receptive_field": receptive_field(prefix),
        })
    return rows


@dataclass(frozen=True)
class FusionGeometry:
    """The geometry of an FCN's fusion: its crops and, per checked input size, the sizes of the maps
    they cut.

    ``crops[j]`` aligns skip ``j`` (coarsest first) with the upsampled running
    score; ``crops[-1]`` aligns the final upsampled score with the input.
    ``sizes[size]`` holds, per crop, (side of the map cut, side it is cut to).
    """

    crops: tuple[int, ...]
    sizes: dict[int, tuple[tuple[int, int], ...]]


#: What fixes a crop that does not fit. The final crop cuts the upsampled score to the input, which the
#: first layer's padding does not move: more padding helps. A skip crop cuts one padded map to another:
#: the padding shifts both by the same pixels and lengthens both alike.
_PADDING = "increase the first layer's padding"
_NOT_PADDING = ("more first-layer padding shifts both maps alike and lengthens them alike, up to rounding, "
                "so it seldom helps; a larger fc6 kernel shortens the upsampled score")


def _check_paths(segments: Sequence[Layers], upsamplers: Sequence[nn.Module]) -> None:
    """An FCN's paths have one upsampler per segment: the running score is upsampled before each skip
    and once more to the input."""
    if len(segments) != len(upsamplers):
        raise ValueError(f"an FCN with {len(segments)} segments needs {len(segments)} upsamplers, "
                         f"got {len(upsamplers)}")


def fusion_geometry(segments: Sequence[Layers], upsamplers: Sequence[nn.Module],
                sizes: Iterable[int] = ()) -> FusionGeometry:
    """Derive every crop of an FCN from its layers, and check they fit inputs of ``sizes``.

    ``segments`` split the path from the image to the coarsest score: the output
    of every segment but the last feeds a skip (through a 1x1 score layer, which
    moves nothing). ``upsamplers[j]`` upsamples the running score before skip
    ``j`` is added (coarsest skip first); the last one brings the score to the
    input's resolution. FCN-32s: one segment, one upsampler; FCN-8s: three, three.
    Raises ``ValueError`` if a crop is impossible or cuts outside its map.
    """
    _check_paths(segments, upsamplers)
    prefixes = [[layer for segment in segments[:i + 1] for layer in leaves(segment)] for i in range(len(segments))]
    skips = list(reversed(range(len(segments) - 1))) + [None]  # None: the final crop, to the input

    running, crops = coord_map(prefixes[-1]), []
    for upsample, skip in zip(upsamplers, skips):
        running = running.then(layer_map(upsample))
        if skip is None:  # the upsampled score is cut to the input
            crops.append(crop_offset(running, CoordMap(), fix=_PADDING))
        else:  # the skip is cut to the upsampled score
            crops.append(crop_offset(coord_map(prefixes[skip]), running, fix=_NOT_PADDING))

    checked = {}
    for size in sizes:
        n, cuts = output_size(prefixes[-1], size), []
        for crop, upsample, skip in zip(crops, upsamplers, skips):
            n = _layer_size(upsample, n)
            have, need = (n, size) if skip is None else (output_size(prefixes[skip], size), n)
            if crop + need > have:
                cut, onto = (("the upsampled score", "the input") if skip is None else
                             (f"the stride-{_fmt(coord_map(prefixes[skip]).scale)} skip's score",
                              "the upsampled score"))
                raise ValueError(f"for a {size} px input, crop {len(cuts) + 1} needs {crop} + {need} px "
                                 f"of {cut} (to cut it to {onto}'s {need}), but {cut} has only {have}: "
                                 + (_PADDING if skip is None else _NOT_PADDING))
            cuts.append((have, need))
        checked[size] = tuple(cuts)
    return FusionGeometry(tuple(crops), checked)


@dataclass(frozen=True)
class FusedSpans:
    """What each pixel of an FCN's finest fused score map reads of the input, score layer by score layer.

    ``grid`` is the fused map's coordinate map, and ``centres[i]`` the input position of fused
    pixel ``i``; ``spans[j][i]`` is the (first, last) input position that the score of segment
    ``j`` (finest first; the last is the coarsest, ``score_fr``) contributes to that pixel:
    the pixels of that score which the upsamplers between it and the fused map blend, each
    widened by its own receptive field.
    """

    grid: CoordMap
    spans: tuple[tuple[tuple[float, float], ...], ...]

    @property
    def centres(self) -> tuple[float, ...]:
        return tuple(float(self.grid(i)) for i in range(len(self.spans[0])))


def _blended(grid: CoordMap, count: int, position: Fraction) -> set[int]:
    """The pixels of a map on ``grid`` that a bilinear upsampler mixes at input ``position``:
    the two on either side, one where it lands on a pixel or where the map ends."""
    at = (position - grid.offset) / grid.scale
    return {m for m in (math.floor(at), math.ceil(at)) if 0 <= m < count}


def fused_spans(segments: Sequence[Layers], upsamplers: Sequence[nn.Module], size: int) -> FusedSpans:
    """Where each score layer's contribution to every fused pixel comes from, for a ``size`` px input.

    The fused map is the one the last upsampler reads (``score_fr`` itself for FCN-32s).
    The finest skip, cut by its crop, puts one of its own pixels on each fused pixel;
    each coarser score reaches it through one more bilinear upsampler, which blends
    the coarser pixels within one pixel of where it reads, so its span grows step by step.
    ``segments`` and ``upsamplers`` are those of :func:`fusion_geometry`.
    """
    _check_paths(segments, upsamplers)
    # where each score layer's pixels lie when it is fused, finest first: the fused map's grid,
    # then the grids one, two ... upsamplers further back
    paths = [list(segments) + list(upsamplers[:k]) for k in range(len(segments))][::-1]
    grids = [coord_map(path) for path in paths]
    counts = [output_size(path, size) for path in paths]
    own = [receptive_field(list(segments[:k + 1])) for k in range(len(segments))]
    spans = [[] for _ in segments]
    for i in range(counts[0]):
        read = {i}
        for k, grid in enumerate(grids):
            if k:
                read = set().union(*(_blended(grid, counts[k], grids[k - 1](m)) for m in read))
            half = Fraction(own[k] - 1, 2)
            spans[k].append((float(grid(min(read)) - half), float(grid(max(read)) + half)))
    return FusedSpans(grids[0], tuple(tuple(layer) for layer in spans))


def interpolation_misalignment(score: CoordMap, n: int, size: int, *, region: str = "interior") -> float:
    """How far, at worst, ``F.interpolate(scores, size=size, mode="bilinear")`` (``align_corners=False``)
    takes an output pixel's value from another input position than that pixel's own, in input pixels.

    Interpolation reads output ``j`` at score coordinate ``(j + 0.5) n / size - 0.5``, which
    PyTorch clamps to ``[0, n - 1]``: beyond the first and the last score pixel there is
    nothing to interpolate towards, so the outputs there copy the edge pixel. The layers put
    score pixel ``u`` at input coordinate ``score(u)``. ``region`` picks the outputs measured:
    ``"interior"`` (the default) those read between the first and the last score pixel, where
    nothing is clamped and any error is the grids' disagreement (networks that resize their
    scores instead of cropping, torchvision's and chapter 9's, are exact there only where the
    grids agree); ``"border"`` the clamped ones, within about half a stride of each edge;
    ``"all"`` every output, the worst case of ``F.interpolate``. A region without outputs gives 0.
    """
    if region not in ("interior", "border", "all"):
        raise ValueError(f"region must be 'interior', 'border' or 'all', not {region!r}")
    scale, offset = float(score.scale), float(score.offset)
    worst = 0.0
    for j in range(size):
        source = (j + 0.5) * n / size - 0.5
        read = min(max(source, 0.0), n - 1.0)  # as F.interpolate clamps it
        if region == "all" or (region == "interior") == (read == source):
            worst = max(worst, abs(scale * read + offset - j))
    return worst


def smallest_padding(segments: Sequence[Layers], upsamplers: Sequence[nn.Module],
                     sizes: Iterable[int] = (), limit: int = 256) -> int:
    """The smallest padding of the first layer for which every crop is valid and fits every size.

    With no ``sizes`` only the crop offsets are checked (all whole and >= 0).
    Sizes from 1 to the backbone's total stride (32 for VGG16: pool5's grid) reveal
    any failure: once the padding is fixed, whether each crop fits repeats with
    that period, and whether fc6 has something to read only gets easier as the
    input grows; twice that range (1 to 64) adds a margin. The layers are
    those of :func:`fusion_geometry`; the first one's padding is varied and then restored.
    """
    first = leaves(segments[0])[0]
    if not isinstance(first, nn.Conv2d):
        raise ValueError(f"the first layer must be a Conv2d to vary its padding, got {type(first).__name__}")
    sizes, original = list(sizes), first.padding
    try:
        for padding in range(limit + 1):
            first.padding = (padding, padding)
            try:
                fusion_geometry(segments, upsamplers, sizes)
            except ValueError:
                continue
            return padding
    finally:
        first.padding = original
    raise ValueError(f"no first-layer padding up to {limit} makes every crop fit every input size")
