"""Where a stride's errors are: scores by the local thickness of the shapes.

A coarse FCN blurs what is thinner than its output stride. To see that in
numbers, every object pixel gets its *local thickness*: the side of the
largest square of odd side (one with a centre pixel) that lies inside its
object and covers it (a bar 5 px wide is 5 thick along its whole length, one
4 px wide is 3; a large disc is thick in the middle and thinner
towards its rim; a triangle's corners are thin). Pixels are then grouped in
bins of thickness, in units of the strides 8, 16 and 32, and each bin gets

* an **IU**: object pixels of the bin predicted as their class, over the
  bin's object pixels together with the background pixels wrongly given the
  class of an object within ``reach`` pixels (they count for the thickest
  such object; false objects far from any real one count for no bin);
* a **boundary accuracy**: correct pixels among those within ``band`` pixels
  of an outline (:func:`metrics.boundary_mask`), a background pixel counting
  for the thickest object within ``band``.

Everything works on whole stacks of label maps at once, and both scores are
ratios of counts kept per scene (:func:`thickness_counts`), so that a set of
scenes is scored by adding its scenes' counts (:mod:`fcn_lesson.evidence`
stores them for the shipped models).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import object_pixels
from .metrics import boundary_mask

__all__ = ["COUNTS", "STRIDE_BINS", "bin_iu", "binned_scores", "by_thickness", "depth", "local_thickness",
           "thickness_counts"]

#: Thickness bins (px): thinner than one FCN-8s cell, up to one FCN-16s cell, up to one FCN-32s cell, more.
STRIDE_BINS = (1, 8, 16, 32, 10_000)


def _grow(values: torch.Tensor, reach: int) -> torch.Tensor:
    """The largest value within ``reach`` pixels (chessboard) in ``N x H x W`` maps; separable."""
    if reach == 0:
        return values
    flat = values[:, None].float()
    rows = F.max_pool2d(flat, (1, 2 * reach + 1), stride=1, padding=(0, reach))
    return F.max_pool2d(rows, (2 * reach + 1, 1), stride=1, padding=(reach, 0))[:, 0].to(values.dtype)


def _check(labels: torch.Tensor) -> torch.Tensor:
    if labels.dim() != 3 or labels.is_floating_point():
        raise ValueError(f"pass integer label maps N x H x W, got {tuple(labels.shape)} {labels.dtype}")
    return labels.long()


def depth(labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Per object pixel of ``N x H x W`` label maps: 1 + its chessboard distance to the nearest pixel
    of another label or to the image's edge (1 on an outline, 3 in the middle of a 5 x 5 square);
    0 on background and ignored pixels."""
    labels = _check(labels)
    height, width = labels.shape[-2:]
    objects = object_pixels(labels, ignore_index)
    padded = F.pad(labels, (1, 1, 1, 1), value=-1)  # the image's edge counts as another label
    inner = objects.clone()
    for dy in range(3):
        for dx in range(3):
            inner &= padded[:, dy:dy + height, dx:dx + width] == labels
    result = objects.long()
    active = inner.flatten(1).any(1)
    while active.any():  # erode: past the first ring, every neighbour shares the label
        result[active] += inner[active]
        inner[active] = ~_grow(~inner[active], 1)
        active &= inner.flatten(1).any(1)
    return result


def local_thickness(labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Per object pixel of ``N x H x W`` label maps, the side of the largest square of odd side inside
    its object that covers it (odd: each square is centred on a pixel); 0 on background and ignored pixels."""
    labels = _check(labels)
    deep = depth(labels, ignore_index)
    objects = deep > 0
    thickness = torch.zeros_like(labels)
    for k in range(1, int(deep.max()) + 1):
        # the square of side 2k - 1 centred on a pixel of depth >= k lies inside its object
        maps = (deep >= k).flatten(1).any(1)  # only the maps that have such a pixel
        covered = _grow(deep[maps] >= k, k - 1) & objects[maps]
        thickness[maps] = torch.where(covered, 2 * k - 1, thickness[maps])
    return thickness


#: The counts :func:`thickness_counts` keeps per scene and bin, in this order (additive over scenes).
COUNTS = ("right", "pixels", "bled", "band_right", "band_pixels")


def thickness_counts(predictions: dict[str, torch.Tensor], labels: torch.Tensor, num_classes: int, *,
                     bins: tuple[int, ...] = STRIDE_BINS, reach: int = 8, band: int = 3,
                     ignore_index: int = 255) -> dict[str, torch.Tensor]:
    """Per model, per scene and thickness bin ``[bins[i], bins[i+1])``, the :data:`COUNTS` behind the
    bin's IU and boundary accuracy: ``N x bins x 5`` integers (the labels' thickness is computed once
    for all models). Counts add over scenes, so that any set of scenes (a bootstrap draw, a subset)
    is scored by summing its rows (:func:`binned_scores`)."""
    labels = _check(labels)
    thickness = local_thickness(labels, ignore_index)
    background = labels == 0
    edges = boundary_mask(labels, band, ignore_index)
    edge_thickness = torch.where(background, _grow(thickness, band), thickness) * edges
    near = {cls: _grow(thickness * (labels == cls), reach) for cls in range(1, num_classes)}
    return {name: _counted(predicted, labels, thickness, edge_thickness, near, bins)
            for name, predicted in predictions.items()}


def _counted(predicted, labels, thickness, edge_thickness, near, bins) -> torch.Tensor:
    if predicted.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predicted.shape)} and labels {tuple(labels.shape)} "
                         "differ in shape")
    predicted = predicted.long()
    wrong = (labels == 0) & (predicted != 0)
    # per background pixel wrongly given a class: thickness of the nearest-thickest object of that class
    bleeding = torch.zeros_like(labels)
    for cls, thickness_near in near.items():
        given = wrong & (predicted == cls)
        bleeding[given] = thickness_near[given]
    right = predicted == labels
    columns = []
    for low, high in zip(bins[:-1], bins[1:]):
        inside = (thickness >= low) & (thickness < high)
        banded = (edge_thickness >= low) & (edge_thickness < high)
        bled = (bleeding >= low) & (bleeding < high)
        columns.append(torch.stack([(right & inside).flatten(1).sum(1), inside.flatten(1).sum(1),
                                    bled.flatten(1).sum(1), (right & banded).flatten(1).sum(1),
                                    banded.flatten(1).sum(1)], 1))
    return torch.stack(columns, 1)


def bin_iu(counts: torch.Tensor) -> torch.Tensor:
    """Each bin's IU from :func:`thickness_counts` summed over scenes (``... x bins x 5``, any leading
    dimensions: a stack of sums, as a bootstrap draws): right over the bin's pixels and bleeding."""
    return counts[..., 0] / (counts[..., 1] + counts[..., 2])


def binned_scores(counts: torch.Tensor, bins: tuple[int, ...] = STRIDE_BINS) -> list[dict]:
    """The rows of :func:`by_thickness` from :func:`thickness_counts` (``N x bins x 5``, summed here,
    or already summed to ``bins x 5``): per bin its label, its object pixels, IU and boundary accuracy."""
    summed = counts.reshape(-1, *counts.shape[-2:]).sum(0).double()
    ius = bin_iu(summed).tolist()  # nan where a bin is empty
    table = []
    for (low, high), iu, (_, pixels, _, band_right, band_pixels) in zip(zip(bins[:-1], bins[1:]), ius,
                                                                        summed.long().tolist()):
        label = f"{low}-{high - 1}" if high != bins[-1] else f">= {low}"
        table.append({"bin": label, "low": low, "high": high, "pixels": pixels, "iu": iu,
                      "boundary_accuracy": band_right / band_pixels if band_pixels else float("nan")})
    return table


def by_thickness(predictions: dict[str, torch.Tensor], labels: torch.Tensor, num_classes: int, *,
                 bins: tuple[int, ...] = STRIDE_BINS, reach: int = 8, band: int = 3,
                 ignore_index: int = 255) -> dict[str, list[dict]]:
    """Per model, IU and boundary accuracy of its ``N x H x W`` predictions in each thickness bin
    ``[bins[i], bins[i+1])``, each row named by its ``bin`` ("1-7", ..., ">= 32")."""
    counts = thickness_counts(predictions, labels, num_classes, bins=bins, reach=reach, band=band,
                              ignore_index=ignore_index)
    return {name: binned_scores(counted, bins) for name, counted in counts.items()}
