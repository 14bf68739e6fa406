"""Pictures and tables the chapters draw: colour-coded labels, overlays, grids, kernels, curves, results.

Every function draws into matplotlib axes it is given (or makes a figure) and
returns the figure or axes, so a chapter can add titles and assert on data
rather than on pixels.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .data import CLASSES, IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, PALETTE, object_pixels

__all__ = ["STATE_COLOURS", "STATE_MARKERS", "border_table", "both_sets", "class_colors", "class_handles", "class_legend", "colorize", "compare_outlines",
           "continued", "denormalize", "draw_fcn", "draw_lineage", "drawn_by_class", "drawn_caption",
           "gap_table", "last_epoch_table", "levelled_table", "levelling_table", "lineage", "mark_epochs", "mark_level",
           "mistake_table", "outline_class", "overlay", "padding_cost_table", "plot_by_thickness", "plot_confusion",
           "plot_budget_scores", "plot_history", "plot_iteration_times", "plot_last_steps", "plot_profiles", "plot_runs", "plot_seed_points", "plot_sharing", "probability", "seed_table",
           "show_compression", "show_kernel", "show_maps", "show_pairs", "show_predictions", "show_score_maps",
           "show_thickness", "show_windows", "table", "time_per_flop_reading", "timing_table", "verdict_table",
           "window_with"]


def colorize(label: torch.Tensor | np.ndarray) -> np.ndarray:
    """H x W class indices -> H x W x 3 uint8 in VOC's palette (255, 'ignore', is cream)."""
    label = np.asarray(label.cpu() if isinstance(label, torch.Tensor) else label).astype(np.int64)
    if label.ndim != 2:
        raise ValueError(f"colorize takes one H x W label map, got shape {label.shape}")
    palette = np.asarray(PALETTE, dtype=np.uint8).reshape(256, 3)
    return palette[np.clip(label, 0, 255)]


def denormalize(image: torch.Tensor) -> np.ndarray:
    """A normalised 3 x H x W tensor (as the datasets return) -> H x W x 3 floats in [0, 1] for imshow."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"denormalize takes one 3 x H x W image, got shape {tuple(image.shape)}")
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (image.detach().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def overlay(image: torch.Tensor, label: torch.Tensor, alpha: float = 0.5) -> np.ndarray:
    """The image with its label colours blended in, background and 'ignore' left clear."""
    picture = denormalize(image)
    colours = colorize(label) / 255
    objects = object_pixels(np.asarray(label.cpu()))
    picture[objects] = (1 - alpha) * picture[objects] + alpha * colours[objects]
    return picture


def class_colors(values: Sequence[int]) -> np.ndarray:
    """The palette colour of each label value (a class index, or 255), as RGB floats in [0, 1] for
    matplotlib's ``color=``: a bar per class drawn in the colour of its label."""
    return np.asarray(PALETTE, dtype=float).reshape(256, 3)[list(values)] / 255


def class_legend(ax, classes: Sequence[str] = CLASSES, ignore: bool = True,
                 present: Iterable[int] | None = None, extra: Sequence = ()) -> None:
    """A legend of class colours beside ``ax``; with ``present``, only those class indices; ``extra``
    handles (a line drawn over the labels, ...) come last."""
    palette = np.asarray(PALETTE).reshape(256, 3) / 255
    shown = range(len(classes)) if present is None else sorted(set(present) & set(range(len(classes))))
    handles = [Patch(color=palette[i], label=classes[i]) for i in shown]
    if ignore:
        handles.append(Patch(color=palette[IGNORE_INDEX], label=f"ignore ({IGNORE_INDEX})"))
    handles += list(extra)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)


def class_handles(classes: Sequence[str] = CLASSES, ignore: bool = True,
                  present: Iterable[int] | None = None) -> list[Patch]:
    """The legend entries of :func:`class_legend` (a patch of each class's colour, and of the ignore
    colour), for a legend placed elsewhere: ``fig.legend(handles=class_handles(...))``."""
    palette = np.asarray(PALETTE).reshape(256, 3) / 255
    shown = range(len(classes)) if present is None else sorted(set(present) & set(range(len(classes))))
    handles = [Patch(color=palette[i], label=classes[i]) for i in shown]
    if ignore:
        handles.append(Patch(color=palette[IGNORE_INDEX], label=f"ignore ({IGNORE_INDEX})"))
    return handles


def show_pairs(images: Sequence[torch.Tensor], labels: Sequence[torch.Tensor],
               predictions: Sequence[torch.Tensor] | None = None, titles: Sequence[str] = ("image", "label", "prediction"),
               size: float = 2.2):
    """A grid: one row per example, columns image | label (| prediction)."""
    columns = 2 if predictions is None else 3
    fig, axes = plt.subplots(len(images), columns, figsize=(size * columns + 1.5, size * len(images)), squeeze=False)
    for row, image in enumerate(images):
        panels = [denormalize(image), colorize(labels[row])]
        if predictions is not None:
            panels.append(colorize(predictions[row]))
        for col, panel in enumerate(panels):
            axes[row, col].imshow(panel, interpolation="nearest")
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            if row == 0:
                axes[row, col].set_title(titles[col])
    class_legend(axes[0, -1])
    fig.tight_layout()
    return fig


def show_predictions(images: Sequence[torch.Tensor], labels: Sequence[torch.Tensor],
                     predictions: dict[str, Sequence[torch.Tensor]],
                     captions: dict[str, Sequence[str]] | None = None, size: float = 2.2, *,
                     outlines: bool = False, highlight: tuple[int, str] | None = None):
    """A grid: one row per example, columns image | label | one per model (``predictions``: a model's
    name -> its prediction for each example); ``captions`` (a model's name -> a line per example) are
    written under that model's panels. With ``outlines``, the true objects' outlines are drawn in
    white over every prediction (and named in the legend). With ``highlight`` (a class, a colour),
    that class's pixels are outlined in that colour in the label and every prediction, for a class
    whose palette colour is hard to see on the background (the ring's navy on black)."""
    columns = 2 + len(predictions)
    fig, axes = plt.subplots(len(images), columns, figsize=(size * columns + 1.5, size * len(images) + 0.3),
                             squeeze=False)
    for row, image in enumerate(images):
        panels = [("image", denormalize(image)), ("label", colorize(labels[row]))]
        panels += [(name, colorize(predicted[row])) for name, predicted in predictions.items()]
        for col, (title, panel) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title)
            if captions and title in captions:
                ax.set_xlabel(captions[title][row], fontsize=8)
            if outlines and col >= 2:
                _draw_true_outlines(ax, labels[row])
            if highlight and col >= 1:
                outline_class(ax, labels[row] if col == 1 else predictions[title][row], *highlight)
    extra = [_outline_handle("true outline")] if outlines else []
    if highlight:
        extra.append(Line2D([], [], color=highlight[1], label=f"{CLASSES[highlight[0]]} pixels"))
    class_legend(axes[0, -1], extra=extra)
    fig.tight_layout()
    return fig


def _draw_true_outlines(ax, label: torch.Tensor) -> None:
    """The outlines of ``label``'s objects (every class but background and the ignore label), in white."""
    objects = object_pixels(np.asarray(label.cpu())).astype(float)
    ax.contour(objects, levels=[0.5], colors="w", linewidths=0.8)


def _outline_handle(name: str):
    """A legend entry for the white outlines, edged in black so that it shows on the legend's white."""
    return Line2D([], [], color="w", linewidth=1.6, label=name,
                  path_effects=[patheffects.withStroke(linewidth=3.2, foreground="k")])


def drawn_by_class(confusion: torch.Tensor, classes: Sequence[str] = CLASSES) -> str:
    """One line for one scene's ``C x C`` confusion matrix (rows: true class): each object class the
    prediction draws, its pixels and the share of them on that class ("disc 3088 px, 85%; ..."), or
    "no object"."""
    drawn = confusion.sum(0)
    right = confusion.diag()
    parts = [f"{classes[c]} {int(drawn[c])} px, {float(right[c] / drawn[c]):.0%}"
             for c in range(1, len(classes)) if drawn[c]]
    return "; ".join(parts) or "no object"


def drawn_caption(confusion: torch.Tensor, found: int, total: int) -> str:
    """A caption for one prediction: the share of the object pixels it draws that lie on the class
    it draws (from its ``C x C`` confusion matrix), and ``found`` of ``total`` true objects touched
    with their own class (:func:`fcn_lesson.metrics.objects_found`)."""
    drawn = confusion[:, 1:].sum()
    share = f"{float(confusion.diag()[1:].sum() / drawn):.0%} on own class" if drawn else "no object drawn"
    return f"{share}\nobjects found: {found} of {total}"


def compare_outlines(image: torch.Tensor, label: torch.Tensor, predictions: dict[str, torch.Tensor],
                     size: float = 3.0, *, present_only: bool = False, tick_step: int | None = None,
                     origin: tuple[int, int] = (0, 0), outline_label: str | None = None):
    """The image, then each prediction in colour with the true objects' outlines drawn over it in
    white: a shifted prediction shows as colour spilling out of its outline on one side.

    With ``present_only`` the legend lists only the classes in ``label`` or a prediction. With
    ``tick_step``, pixel ticks every ``tick_step`` px, numbered from ``origin`` (top, left): the
    coordinates in the whole image of a close-up's first pixel. With ``outline_label``, the legend
    also shows the white outline (edged in black, so that it shows on the legend's white) by that name."""
    fig, axes = plt.subplots(1, len(predictions) + 1, figsize=(size * (len(predictions) + 1) + 1.5, size))
    truth = np.asarray(label.cpu())
    axes[0].imshow(denormalize(image))
    axes[0].set_title("image")
    for ax, (name, predicted) in zip(axes[1:], predictions.items()):
        ax.imshow(colorize(predicted), interpolation="nearest")
        _draw_true_outlines(ax, label)
        ax.set_title(name)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        if tick_step:
            for first, length, set_ticks in ((origin[1], truth.shape[1], ax.set_xticks),
                                             (origin[0], truth.shape[0], ax.set_yticks)):
                at = [i for i in range(length) if (first + i) % tick_step == 0]
                set_ticks(at, [str(first + i) for i in at])
    present = None
    if present_only:
        values = set(np.unique(truth).tolist())
        for predicted in predictions.values():
            values |= set(np.unique(np.asarray(predicted.cpu())).tolist())
        present = values - {IGNORE_INDEX}
    extra = [_outline_handle(outline_label)] if outline_label else []
    class_legend(axes[-1], ignore=False, present=present, extra=extra)
    fig.tight_layout()
    return fig


def window_with(label: torch.Tensor | np.ndarray, classes: Sequence[int], size: int = 24,
                step: int = 2) -> tuple[int, int]:
    """The (top, left) corner of the ``size`` x ``size`` window of ``label`` whose classes, 255 aside,
    are exactly ``classes``, with the most pixels of the least of them: a close-up that shows what
    its caption says. Raises ``ValueError`` where no window holds exactly those classes."""
    label = np.asarray(label.cpu() if isinstance(label, torch.Tensor) else label)
    best, corner = 0, None
    for top in range(0, label.shape[0] - size + 1, step):
        for left in range(0, label.shape[1] - size + 1, step):
            window = label[top:top + size, left:left + size]
            if set(np.unique(window).tolist()) - {IGNORE_INDEX} == set(classes):
                least = min(int((window == c).sum()) for c in classes)
                if least > best:
                    best, corner = least, (top, left)
    if corner is None:
        raise ValueError(f"no {size} x {size} window holds exactly the classes {sorted(classes)} (and 255)")
    return corner


def show_windows(image: np.ndarray, label: np.ndarray, corners: Sequence[tuple[int, int]], size: int = 24,
                 panel: float = 2.4, *, exact: np.ndarray | None = None, whole: bool = False,
                 edge_color: str = "black"):
    """Close-ups of an H x W x 3 image and its H x W label: one row per (top, left) corner, image | label,
    each row captioned with the share of every label value in its window, largest first.

    With ``whole``, a first row shows the whole image and label, each window outlined and numbered.
    With ``exact`` (the H x W label without the 255 band), each close-up of the label has the exact
    edges between classes drawn over it in ``edge_color`` (black unless given), along the pixel sides where
    ``exact`` changes."""
    image, label = np.asarray(image), np.asarray(label)
    first = int(whole)
    rows = first + len(corners)
    fig, axes = plt.subplots(rows, 2, figsize=(2 * panel + 3.6, panel * rows), squeeze=False)
    if whole:
        axes[0, 0].imshow(image, interpolation="nearest")
        axes[0, 1].imshow(colorize(label), interpolation="nearest")
        for number, (top, left) in enumerate(corners, 1):
            for ax in axes[0]:
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False, edgecolor="w",
                                       linewidth=1.5))
                ax.text(left + 1, top + 1, str(number), color="w", ha="left", va="top", fontsize=9,
                        fontweight="bold",  # outlined in black: legible on bright regions too
                        path_effects=[patheffects.withStroke(linewidth=2.5, foreground="k")])
        axes[0, 0].set_title(f"image, {label.shape[0]} x {label.shape[1]} px")
        axes[0, 1].set_title("label")
    for row, (top, left) in enumerate(corners, first):
        window = (slice(top, top + size), slice(left, left + size))
        values, counts = np.unique(label[window], return_counts=True)
        lines = [f"{CLASSES[v] if v < len(CLASSES) else 'ignore'} {100 * n / counts.sum():.0f} %"
                 for v, n in sorted(zip(values.tolist(), counts.tolist()), key=lambda pair: -pair[1])]
        axes[row, 0].imshow(image[window], interpolation="nearest")
        axes[row, 1].imshow(colorize(label[window]), interpolation="nearest")
        if exact is not None:
            axes[row, 1].add_collection(LineCollection(_class_edges(np.asarray(exact)[window]),
                                                       colors=edge_color, linewidths=1.5))
        axes[row, 0].set_ylabel("\n".join(lines), rotation=0, ha="right", va="center")
        if whole:
            axes[row, 0].set_title(f"window {row}, {size} x {size} px")
            axes[row, 1].set_title("label" + (f", exact edge {edge_color}" if exact is not None else ""))
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    if whole:
        for ax in axes[0]:
            ax.set_xticks([])
            ax.set_yticks([])
    else:
        axes[0, 0].set_title(f"image, {size} x {size} px")
        axes[0, 1].set_title("label" + (f", exact edge {edge_color}" if exact is not None else ""))
    class_legend(axes[0, 1])
    fig.tight_layout()
    return fig


def show_compression(drawn: np.ndarray, stored: np.ndarray, corner: tuple[int, int], size: int = 24,
                     *, exact: np.ndarray | None = None, edge_color: str = "magenta", panel: float = 2.6):
    """One close-up, three panels: an H x W x 3 image as drawn, the same image as stored (after a lossy
    codec such as JPEG), and their difference, the largest over the three channels, in levels of 255.
    With ``exact`` (the H x W label without the 255 band), its class edges are drawn over the difference
    in ``edge_color``."""
    top, left = corner
    window = (slice(top, top + size), slice(left, left + size))
    drawn, stored = np.asarray(drawn)[window], np.asarray(stored)[window]
    error = np.abs(stored.astype(int) - drawn.astype(int)).max(axis=-1)
    fig, axes = plt.subplots(1, 3, figsize=(3 * panel + 1.2, panel))
    axes[0].imshow(drawn.astype(np.uint8), interpolation="nearest")
    axes[1].imshow(stored.astype(np.uint8), interpolation="nearest")
    shown = axes[2].imshow(error, cmap="gray", vmin=0, interpolation="nearest")
    fig.colorbar(shown, ax=axes[2], label="levels of 255")
    titles = ["as drawn", "as stored", "|stored - drawn|, worst channel"]
    if exact is not None:
        axes[2].add_collection(LineCollection(_class_edges(np.asarray(exact)[window]), colors=edge_color,
                                              linewidths=1.5))
        titles[2] += f",\nexact edge {edge_color}"
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _class_edges(label: np.ndarray) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The pixel sides between two different values of ``label``, as line segments in ``imshow``'s
    coordinates (pixel (r, c) covers c - 0.5 .. c + 0.5 across, r - 0.5 .. r + 0.5 down)."""
    rows, cols = np.nonzero(label[1:] != label[:-1])  # between (r, c) and the pixel below it
    below = [((c - 0.5, r + 0.5), (c + 0.5, r + 0.5)) for r, c in zip(rows.tolist(), cols.tolist())]
    rows, cols = np.nonzero(label[:, 1:] != label[:, :-1])  # between (r, c) and the one to its right
    right = [((c + 0.5, r - 0.5), (c + 0.5, r + 0.5)) for r, c in zip(rows.tolist(), cols.tolist())]
    return below + right


def _text_colour(image, value: float) -> str:
    """White or black, whichever reads better on the colour ``image`` gives ``value`` (by its luminance)."""
    red, green, blue, _ = image.cmap(image.norm(value))
    return "white" if 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.5 else "black"


def show_kernel(kernel: torch.Tensor, ax=None, title: str | None = None, vmin: float | None = None,
                vmax: float | None = None):
    """A 2-D kernel as an image with its values written in (when it is small enough to read), each in
    white or black, whichever reads better on its cell's colour; ticks on whole rows and columns.
    ``vmin`` and ``vmax`` fix the colour scale (to share one between panels); by default it spans
    the kernel's own values."""
    kernel = kernel.detach().cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    image = ax.imshow(kernel, cmap="viridis", vmin=vmin, vmax=vmax)
    if kernel.shape[0] <= 8:
        for (i, j), value in np.ndenumerate(kernel):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color=_text_colour(image, value))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if title:
        ax.set_title(title)
    return ax


def show_maps(maps: dict[str, torch.Tensor], *, label: str = "value", cmap: str = "magma",
              vmin: float | None = None, vmax: float | None = None, ranges: bool = False,
              difference: torch.Tensor | None = None, difference_label: str = "absolute difference"):
    """2-D maps side by side on one colour scale (``vmin``/``vmax``, by default the maps' joint
    range) with one colour bar labelled ``label``; ``ranges`` adds each map's own smallest and
    largest value to its title. With ``difference``, one more panel shows it from 0 on its own
    scale, with its own colour bar. Returns the figure."""
    maps = {title: torch.as_tensor(m).detach().cpu() for title, m in maps.items()}
    count = len(maps) + (difference is not None)
    fig, axes = plt.subplots(1, count, figsize=(3.4 * count, 3.6), layout="constrained", squeeze=False)
    axes = list(axes[0])
    low = min(m.min().item() for m in maps.values()) if vmin is None else vmin
    high = max(m.max().item() for m in maps.values()) if vmax is None else vmax
    for ax, (title, m) in zip(axes, maps.items()):
        shown = ax.imshow(m.numpy(), cmap=cmap, vmin=low, vmax=high)
        ax.set_title(f"{title}:\nvalues {m.min():.2f} to {m.max():.2f}" if ranges else title)
    fig.colorbar(shown, ax=axes[:len(maps)], label=label, shrink=0.8)
    if difference is not None:
        band = axes[-1].imshow(torch.as_tensor(difference).detach().cpu().numpy(), cmap=cmap, vmin=0)
        axes[-1].set_title("|difference|")
        fig.colorbar(band, ax=axes[-1], label=difference_label, shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


#: The colours of :func:`show_thickness`'s bins, thinnest first: warm where thin, cool where thick.
THICKNESS_COLOURS = ("#d7301f", "#fc8d59", "#74a9cf", "#045a8d")


def show_thickness(labels: Sequence[torch.Tensor], thickness: Sequence[torch.Tensor], *,
                   edges: Sequence[int] = (1, 8, 16, 32), colours: Sequence[str] = THICKNESS_COLOURS,
                   background: str = "#e6e6e6"):
    """Label maps (top row) above their local thickness (bottom row, as ``scales.local_thickness``
    gives it), the thickness drawn in bins: one colour per bin, each from its edge in ``edges`` up to
    the next (the last open), so that the thinnest sides stand out; pixels of thickness 0 (background,
    ignored) in ``background``. A colour bar names the bins, a legend the classes. Returns the figure."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    count = len(labels)
    fig, axes = plt.subplots(2, count, figsize=(3.2 * count + 1.8, 6.4), layout="constrained",
                             squeeze=False)
    cmap = ListedColormap(list(colours[:len(edges)])).with_extremes(bad=background)
    bounds = [*edges, 2 * edges[-1]]  # the last bin is open: its width is only drawn
    norm = BoundaryNorm(bounds, cmap.N, clip=True)
    for col, (label, side) in enumerate(zip(labels, thickness)):
        axes[0, col].imshow(colorize(label), interpolation="nearest")
        side = np.ma.masked_equal(torch.as_tensor(side).cpu().numpy(), 0)
        drawn = axes[1, col].imshow(side, cmap=cmap, norm=norm, interpolation="nearest")
        for ax in axes[:, col]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("label")
    axes[1, 0].set_ylabel("local thickness")
    present = sorted({int(v) for label in labels for v in torch.as_tensor(label).unique()})
    fig.legend(handles=class_handles(present=present), loc="outside right upper", frameon=False)
    bar = fig.colorbar(drawn, ax=axes[1, :], shrink=0.9,
                       ticks=[(low + high) / 2 for low, high in zip(bounds, bounds[1:])])
    bar.ax.set_yticklabels([f"{low}-{high - 1}" for low, high in zip(edges, edges[1:])]
                           + [f">= {edges[-1]}"])
    bar.set_label("side (px); grey: no object (background, ignored)")
    return fig


def show_score_maps(image: torch.Tensor, scores: torch.Tensor, names: Sequence[str], *, stride: int,
                    first: float, marked: Sequence[tuple[int, int]] = (), values: Sequence[int] | None = None,
                    marked_label: str | None = None, outlined: dict[str, Sequence[tuple[int, int]]] | None = None,
                    initials: bool = False):
    """A dense network's answers drawn on its input's pixel grid: the input, one map per class of
    ``scores`` (C x rows x columns probabilities, on one 0-1 scale) and the answer at every position
    (the likeliest class, in the palette colour of its label value, ``values``: 1, 2, ... by default).

    Position (i, j) is drawn as a ``stride`` x ``stride`` square centred on its window's centre,
    ``first + stride * j`` pixels across and ``first + stride * i`` down; the grey margin is image
    without a window centre. The input shows every centre as a dot; the positions in ``marked``
    ((row, column) pairs) are outlined in cyan in every panel.

    For an answer panel that does not rest on telling colours apart: ``initials=True`` writes each
    answer's shortest unambiguous prefix of its name in its square; ``outlined`` (label -> positions)
    outlines groups of positions in the answer panel only, a white line style per group; the legend
    names the groups, and the cyan outline too where ``marked_label`` is given. Returns the figure."""
    scores = torch.as_tensor(scores).detach().float().cpu()
    count, rows, cols = scores.shape
    values = list(range(1, count + 1)) if values is None else list(values)
    picture = denormalize(image)
    height, width = picture.shape[:2]
    half = stride / 2
    extent = (first - half, first + stride * (cols - 1) + half, first + stride * (rows - 1) + half, first - half)
    across = (count + 3) // 2
    fig, axes = plt.subplots(2, across, figsize=(3.2 * across + 1.2, 5.4), layout="constrained")
    axes = list(axes.flat)
    for ax in axes[count + 2:]:
        ax.axis("off")

    def frame(ax, title):
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_title(title)
        ax.set_facecolor("0.82")
        ax.set_xticks([])
        ax.set_yticks([])
        if ax is axes[0]:
            return
        for i, j in marked:
            ax.add_patch(Rectangle((first + stride * j - half, first + stride * i - half), stride, stride,
                                   fill=False, edgecolor="cyan", linewidth=1.6))

    axes[0].imshow(picture)
    across_px, down_px = np.meshgrid(first + stride * np.arange(cols), first + stride * np.arange(rows))
    axes[0].scatter(across_px.ravel(), down_px.ravel(), s=6, color="white", edgecolors="black",
                    linewidths=0.4)
    if marked:
        axes[0].scatter([first + stride * j for _, j in marked], [first + stride * i for i, _ in marked],
                        s=40, color="cyan", edgecolors="black", linewidths=0.6)
    frame(axes[0], "input and window centres")
    for c, ax in enumerate(axes[1:count + 1]):
        shown = ax.imshow(scores[c].numpy(), extent=extent, vmin=0, vmax=1, cmap="magma")
        frame(ax, f"P({names[c]})")
    fig.colorbar(shown, ax=axes, shrink=0.6, label="probability")
    colours = class_colors(values)
    answer = axes[count + 1]
    answer.imshow(colours[scores.argmax(0).numpy()], extent=extent)
    frame(answer, "answer (likeliest class)")
    handles = [Patch(color=colour, label=name) for colour, name in zip(colours, names)]
    if marked and marked_label:
        handles.append(Patch(fill=False, edgecolor="cyan", linewidth=1.6, label=marked_label))
    for (label, where), style in zip((outlined or {}).items(), ("--", ":", "-.")):
        for i, j in where:
            answer.add_patch(Rectangle((first + stride * j - half + 2, first + stride * i - half + 2),
                                       stride - 4, stride - 4, fill=False, edgecolor="white",
                                       linestyle=style, linewidth=1.2))
        handles.append(Patch(facecolor="0.45", edgecolor="white", linestyle=style, label=label))
    if initials:
        width_ = 1
        while len({name[:width_] for name in names}) < len(names):
            width_ += 1
        for (i, j), c in np.ndenumerate(scores.argmax(0).numpy()):
            answer.text(first + stride * j, first + stride * i, names[c][:width_], ha="center", va="center",
                        fontsize=7, color="white", fontweight="bold",
                        path_effects=[patheffects.withStroke(linewidth=1.5, foreground="black")])
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize="small",
               frameon=False, title="answer panel" + (": colours and initials" if initials else "'s colours"),
               title_fontsize="small")
    return fig


def plot_sharing(sides: Sequence[int], ratios: dict[str, Sequence[float]], limits: dict[str, float],
                 timed: dict[int, Sequence[float]], compared: str, control: int | None = None):
    """Every window against one dense pass, as the image grows. Left: each of ``ratios`` (label ->
    one value per side of ``sides``) against the side, the timed sides marked, and its limit
    (``limits``: label -> value, in the order of ``ratios``), dotted in the ratio's colour. Right: at each timed side (``timed``: side -> the time
    ratios of the repeats), the median with a bar from the smallest to the largest repeat, beside
    the ratio ``compared`` (a key of ``ratios``) at that side, on a log scale.

    With ``control`` (a side of ``timed`` where both methods do the same work), the right panel plots
    the time ratio against the ``compared`` ratio instead, on log-log axes: the line y = x is time in
    proportion to the work, and a grey band around it is the control's range of time ratios (widened
    to include 1) carried to every side, the spread equal work showed; a side whose bar reaches into
    the band is not told apart from time in proportion to the work (as :func:`timing_table` reads it).
    Returns the figure."""
    fig, (work, clock) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    colours = {}
    for k, (label, values) in enumerate(ratios.items()):
        line, = work.plot(sides, values, ("-", "--", "-.")[k % 3], label=label)
        colours[k] = line.get_color()
        at = [values[list(sides).index(side)] for side in timed]
        work.plot(list(timed), at, "o", color=line.get_color())
    for k, (label, value) in enumerate(limits.items()):
        work.axhline(value, color=colours.get(k, "0.3"), linestyle=":", label=f"{label}: {value:.1f}")
    work.set_xlabel("image side (px)")
    work.set_ylabel("windows / one dense pass")
    work.set_title("work: counted (dots: the sides timed)")
    work.set_ylim(0, max(limits.values(), default=1) * 1.1)
    work.grid(alpha=0.3)
    work.legend(loc="lower right", fontsize="small")
    runs = [np.asarray(timed[side], dtype=float) for side in timed]
    median = np.array([np.median(r) for r in runs])
    spread = np.array([median - [r.min() for r in runs], [r.max() for r in runs] - median])
    if control is not None:
        _plot_time_against_work(clock, list(timed), median, spread,
                                [ratios[compared][list(sides).index(side)] for side in timed], timed[control],
                                compared)
        return fig
    clock.errorbar(list(timed), median, yerr=spread, fmt="o-", capsize=4, color="tab:red",
                   label=f"time ratio: median, bar from smallest to largest of {min(map(len, runs))}")
    reference = ratios[compared]
    clock.plot(list(timed), [reference[list(sides).index(side)] for side in timed], "^--", color="tab:blue",
               label=compared)
    clock.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "125" else "")
    clock.yaxis.set_major_formatter(plain)
    clock.yaxis.set_minor_formatter(plain)
    clock.set_xlabel("image side (px)")
    clock.set_ylabel("windows / one dense pass")
    clock.set_title("time: measured on this machine")
    clock.grid(alpha=0.3, which="both")
    clock.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize="small", ncol=2)
    return fig


def _plot_time_against_work(ax, sides, median, spread, work, control, compared: str) -> None:
    """The right panel of :func:`plot_sharing` with a control: time ratio against work ratio."""
    low, high = min(min(control), 1), max(max(control), 1)
    span = np.geomspace(min(work) / 1.5, max(work) * 1.5, 50)
    ax.fill_between(span, low * span, high * span, color="0.85",
                    label=f"the control's range at equal work ({low:.2g} to {high:.2g}), carried along")
    ax.plot(span, span, ":", color="0.3", label="time in proportion to the work (y = x)")
    ax.errorbar(work, median, yerr=spread, fmt="o", capsize=4, color="tab:red",
                label=f"time ratio: median, bar from smallest to largest of {len(control)}")
    for k, (x, y, side) in enumerate(zip(work, median, sides)):  # labels alternate below and
        ax.annotate(f"{side} px", (x, y), textcoords="offset points",  # above: neighbours crowd
                    xytext=(6, -12 if k % 2 == 0 else 6), fontsize="small")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "125" else "")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
    ax.set_xlabel(f"{compared}: windows / one dense pass")
    ax.set_ylabel("time ratio: windows / one dense pass")
    ax.set_title("time against work, measured on this machine")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), fontsize="small", ncol=1)


def time_per_flop_reading(ratios: Sequence[float], work: float, control: Sequence[float]) -> str:
    """How one side's timed rounds read against a control with equal work. ``ratios``: the time
    ratio (windows / one dense pass) of each round; ``work``: the FLOP ratio at that side;
    ``control``: the time ratios of the control side, where both methods do the same work. Each
    round's time ratio over ``work`` is the windows' time per FLOP over the dense pass's; it reads
    "took longer" (or "took less time") only where every round lies above (below) the control's
    range widened to include 1, and "not told apart from the control" otherwise."""
    per_flop = [ratio / work for ratio in ratios]
    low, high = min(min(control), 1), max(max(control), 1)
    if min(per_flop) > high:
        return "took longer, beyond the control in every round"
    if max(per_flop) < low:
        return "took less time, beyond the control in every round"
    return "not told apart from the control"


def timing_table(time_ratios: dict[int, Sequence[float]], work: dict[int, float], control: int):
    """The timed rounds of every window against one dense pass, for ``display``: per side of
    ``time_ratios`` (side -> the time ratio of each round), the FLOP ratio ``work[side]``, the
    median and range of the time ratios, and :func:`time_per_flop_reading` against the side
    ``control`` (the one with equal work, marked as the control)."""
    rows = []
    for side, ratios in time_ratios.items():
        reading = ("(the control: the same work)" if side == control
                   else time_per_flop_reading(ratios, work[side], time_ratios[control]))
        rows.append([side, f"{work[side]:.1f}", f"{float(np.median(ratios)):.1f}",
                     f"{min(ratios):.1f} to {max(ratios):.1f}", reading])
    return table(["side (px)", "FLOP ratio", "time ratio: median", "range over the rounds",
                  "per FLOP, the windows"], rows)


def plot_profiles(panels: dict[str, dict[str, torch.Tensor]], xlabel: str, ylabel: str, *,
                  zoom: int | None = None, legend: str = "fullest", see_through: bool = False):
    """1-D profiles side by side: one panel per entry of ``panels`` (its key the title), one line per
    entry inside it (its key the legend), a name drawn in the same colour and style in every panel;
    the panels share their y axis. With ``zoom``, a second row shows the first ``zoom`` values of
    each panel magnified, every value marked (a marker shape per name) and a legend in every panel:
    the start of a long profile, where a band a few values wide is a sliver in the first row.
    ``legend="every"`` puts a legend in every panel of the first row too (by default only the panel
    with the most lines has one). ``see_through=True`` draws every name but the first thinner,
    translucent and with hollow markers, so that the first name's line shows where others lie on it."""
    if legend not in ("fullest", "every"):
        raise ValueError(f"legend must be 'fullest' or 'every', not {legend!r}")
    rows = 1 if zoom is None else 2
    fig, axes = plt.subplots(rows, len(panels), figsize=(4.4 * len(panels), 3.3 * rows), sharey=True,
                             squeeze=False)
    names = list(dict.fromkeys(name for lines in panels.values() for name in lines))
    styles = {name: (f"C{i}", ("-", "--", ":", "-.")[i % 4], 2.6 - 0.5 * (i % 4))
              for i, name in enumerate(names)}
    faint = {name: see_through and i > 0 for i, name in enumerate(names)}
    if see_through:
        styles = {name: (colour, style, 1.4 if faint[name] else width)
                  for name, (colour, style, width) in styles.items()}
    for ax, (title, lines) in zip(axes[0], panels.items()):
        for name, values in lines.items():
            colour, style, width = styles[name]
            ax.plot(torch.as_tensor(values).detach().cpu().numpy(), color=colour, linestyle=style,
                    linewidth=width, label=name, alpha=0.75 if faint[name] else 1.0)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(ylabel)
    fullest = max(range(len(panels)), key=lambda i: len(list(panels.values())[i]))
    for ax in axes[0] if legend == "every" else [axes[0, fullest]]:
        ax.legend()
    if zoom is not None:
        for ax, (title, lines) in zip(axes[1], panels.items()):
            for name, values in lines.items():
                colour, style, width = styles[name]
                shown = torch.as_tensor(values).detach().cpu().numpy()[:zoom]
                ax.plot(shown, color=colour, linestyle=style, linewidth=width, label=name,
                        marker="os^D"[names.index(name) % 4], markersize=4,
                        alpha=0.75 if faint[name] else 1.0,
                        markerfacecolor="none" if faint[name] else colour)
            ax.set_title(f"{title}, magnified: the first {zoom}")
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
            ax.legend()
        axes[1, 0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def border_table(rows: dict[tuple[str, str], dict[str, torch.Tensor]], tolerance: float = 1e-6):
    """The border band of each network's score layers, for ``display``: ``rows`` maps (backbone,
    network) to {score layer: the weight the output gives it along a row}, as
    :func:`fcn_lesson.models.score_weights` returns; per layer, the weight at the row's first pixel
    and how many of its pixels get less than full weight (below ``1 - tolerance``)."""
    body = [[backbone, network, layer, float(row[0]), f"{int((row < 1 - tolerance).sum())} of {len(row)}"]
            for (backbone, network), layers in rows.items() for layer, row in layers.items()]
    return table(["backbone", "network", "score layer", "weight at pixel 0", "pixels below 1"], body)


def plot_confusion(confusions: dict[str, torch.Tensor], names: Sequence[str], *, mistakes: bool = False):
    """Confusion matrices side by side (rows: true class, columns: predicted), one panel per entry,
    each count written on its cell in white or black, whichever reads better on the cell's colour.

    With ``mistakes``, only the wrong answers are coloured, on one scale for all panels with a
    colour bar, so that a shade means the same count in every panel; the diagonal (the right
    answers, which would otherwise take the whole colour range) is grey, its counts still written."""
    fig, axes = plt.subplots(1, len(confusions), figsize=(4.2 * len(confusions) + mistakes, 3.8), squeeze=False)
    cmap = plt.get_cmap("Blues").with_extremes(bad="0.85")
    off = ~np.eye(len(names), dtype=bool)
    wrong_max = max(int(torch.as_tensor(c).cpu().numpy()[off].max()) for c in confusions.values())
    for ax, (title, confusion) in zip(axes[0], confusions.items()):
        counts = torch.as_tensor(confusion).cpu().numpy()
        shown = np.ma.masked_where(~off, counts) if mistakes else counts
        top = wrong_max if mistakes else int(counts.max())
        image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=max(top, 1))
        for (i, j), count in np.ndenumerate(counts):
            right = mistakes and not off[i, j]  # on the grey diagonal
            ax.text(j, i, int(count), ha="center", va="center", fontsize=8,
                    color="black" if right else _text_colour(image, count))
        ax.set_xticks(range(len(names)), names, rotation=45)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
    fig.tight_layout()
    if mistakes:
        fig.colorbar(image, ax=list(axes[0]), shrink=0.8, pad=0.02, label="wrong answers (count)")
    return fig


def plot_history(histories: dict[str, list[dict]], keys: Sequence[str] = ("loss", "val_mean_iu"), *,
                 steps_per_epoch: int | dict[str, int] | None = None):
    """Training curves, one panel per key, one line per model, against epochs (with
    ``steps_per_epoch``: against optimizer steps, each epoch's record at its last step; a dict gives
    each model its own, so that runs with epochs of different lengths share the step axis). A curve
    equal to one drawn before it is dashed and says so in the legend: otherwise it would hide the
    other, and a legend entry would have no line to be seen."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.2), squeeze=False)
    epoch_steps = (steps_per_epoch if isinstance(steps_per_epoch, dict)
                   else dict.fromkeys(histories, steps_per_epoch or 1))
    for ax, key in zip(axes[0], keys):
        drawn = {}  # points -> the name of the first curve drawn through them
        for name, history in histories.items():
            points = tuple((h["epoch"] * epoch_steps[name], h[key]) for h in history if key in h)
            if not points:
                continue
            if points in drawn:
                ax.plot(*zip(*points), marker="o", markersize=3, linestyle="--", fillstyle="none",
                        label=f"{name} (= {drawn[points]})")
            else:
                drawn[points] = name
                ax.plot(*zip(*points), marker="o", markersize=3, label=name)
        ax.set_xlabel("optimizer steps" if steps_per_epoch else "epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
        ax.set_ylabel(_axis_label(key))
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    fig.tight_layout()
    return fig


def plot_runs(runs: dict[str, dict[int, list[dict]]], key: str = "val_mean_iu", highlight: int = 0,
              notes: dict[str, str] | None = None, legend_outside: bool = False):
    """Training curves of several runs per row, against epochs: one colour per row (``runs``: row ->
    seed -> history), seed ``highlight``'s run thick with markers, every other seed's thin; the legend
    names each row and says which line is which seed. ``notes``: row -> a remark its legend entry ends
    with (say, that its curve is scored on other scenes); ``legend_outside``: the legend right of the
    axes, clear of every curve."""
    fig, ax = plt.subplots(figsize=(10.5 if legend_outside else 7.5, 4.2))
    for i, (name, seeds) in enumerate(runs.items()):
        for seed, history in seeds.items():
            points = [(h["epoch"], h[key]) for h in history if key in h]
            thick = seed == highlight
            ax.plot(*zip(*points), color=f"C{i}", linewidth=2 if thick else 0.9,
                    alpha=1 if thick else 0.7, marker="o" if thick else None, markersize=3)
    notes = notes or {}
    handles = [Line2D([], [], color=f"C{i}", linewidth=2, label=f"{name} ({len(seeds)} seed"
                      + ("s" if len(seeds) > 1 else "") + (f"; {notes[name]})" if name in notes else ")"))
               for i, (name, seeds) in enumerate(runs.items())]
    handles += [Line2D([], [], color="k", linewidth=2, marker="o", markersize=3, label=f"seed {highlight}"),
                Line2D([], [], color="k", linewidth=0.9, alpha=0.7, label="other seeds")]
    if legend_outside:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    else:
        ax.legend(handles=handles, loc="lower right", fontsize="small")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(_axis_label(key))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_iteration_times(times: dict[tuple[int, int], Sequence[float]], *, padding: int = 0,
                         constant: float | None = None, constant_label: str = "a constant part", ax=None):
    """Seconds per iteration against image pixels: each size's fastest run (on a shared machine noise
    only adds time, so the fastest is the closest to the work's own cost), with a bar up to the
    slowest, and two guide lines, both anchored at the largest image's fastest run: in proportion to
    the image's pixels, and to its pixels with ``padding`` added on every side. ``constant``: seconds
    drawn flat (e.g. the optimizer's step, measured alone). ``times`` maps (height, width) to the
    repeats' seconds. The y-axis starts at 0; the x-axis is marked at the sizes measured, each as
    width x height over its pixels. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 6.0), layout="constrained")
    sizes = sorted(times, key=lambda size: size[0] * size[1])
    pixels = np.array([h * w for h, w in sizes], dtype=float)
    padded = np.array([(h + 2 * padding) * (w + 2 * padding) for h, w in sizes], dtype=float)
    runs = [np.asarray(times[size], dtype=float) for size in sizes]
    fastest = np.array([r.min() for r in runs])
    spread = np.array([np.zeros(len(runs)), [r.max() - r.min() for r in runs]])
    ax.errorbar(pixels, fastest, yerr=spread, fmt="o-", capsize=4, color="tab:blue",
                label=f"measured: fastest, bar up to the slowest of {min(map(len, runs))}")
    ax.plot(pixels, fastest[-1] * pixels / pixels[-1], "--", color="tab:orange",
            label="in proportion to the image's pixels")
    ax.plot(pixels, fastest[-1] * padded / padded[-1], ":x", color="tab:green", linewidth=2,
            label=f"in proportion to pixels with the padding ({padding} a side) added "
                  "(x: the sizes measured)")
    if constant is not None:
        ax.axhline(constant, color="dimgray", linewidth=2, linestyle="-.", label=constant_label)
        ax.annotate(f"{constant:.2g} s", (pixels[-1] * 1.04, constant), xytext=(0, 4),
                    textcoords="offset points", ha="right", va="bottom", color="dimgray")
    ax.set_xlim(0, pixels[-1] * 1.05)
    ax.set_ylim(0, max(r.max() for r in runs) * 1.08)
    ax.set_xticks(pixels, [f"{w} x {h}\n{int(p):,}" for (h, w), p in zip(sizes, pixels)])  # the sizes measured
    ax.set_xlabel("image (width x height) and its pixels")
    ax.set_ylabel("seconds per iteration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14),  # below the axes
              title="guides anchored at the largest image's fastest run", title_fontsize="small")
    return ax


def _axis_label(key: str) -> str:
    """A history's key in words: ``val_mean_iu`` is "validation mean IU"."""
    words = key.replace("val_", "validation ").replace("_", " ").split(" ")
    return " ".join(word.upper() if word in ("iu", "fw") else word for word in words)


def continued(*histories: list[dict]) -> list[dict]:
    """The histories of consecutive stages as one, each stage's epochs counted on from the last."""
    joined: list[dict] = []
    for history in histories:
        done = joined[-1]["epoch"] if joined else 0
        joined += [{**record, "epoch": record["epoch"] + done} for record in history]
    return joined


def mark_level(ax, value: float, label: str, colour: str = "dimgray") -> None:
    """A dashed horizontal line at ``value`` across ``ax`` (a floor, a baseline), with ``label`` for
    the legend; call ``ax.legend()`` after it to show it."""
    ax.axhline(value, color=colour, linestyle="--", linewidth=1, label=label)


def mark_epochs(ax, epochs: Sequence[int], labels: Sequence[str], colour: str = "dimgray") -> None:
    """A dotted vertical line after each of ``epochs`` (where one stage of a run ends and the next
    begins), each named by its ``labels`` entry at the top of ``ax``."""
    for epoch, text in zip(epochs, labels, strict=True):
        ax.axvline(epoch + 0.5, color=colour, linestyle=":", linewidth=1)
        ax.annotate(text, (epoch + 0.5, 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                    textcoords="offset points", ha="left", va="top", fontsize=8, color=colour)


def outline_class(ax, label: torch.Tensor | np.ndarray, cls: int, colour: str = "white",
                  linewidth: float = 0.8) -> int:
    """Outline the pixels of class ``cls`` in the H x W label map drawn on ``ax`` (for a class whose
    palette colour is hard to see on the background: the ring's navy on black). Returns how many
    pixels have the class."""
    mask = np.asarray(label.cpu() if isinstance(label, torch.Tensor) else label) == cls
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=linewidth)
    return int(mask.sum())


def probability(p: float, digits: int = 3) -> str:
    """A probability with its relation, ``"= 0.021"`` or ``"< 0.001"``: one that rounds to zero at
    ``digits`` decimals is small, not impossible, and a printed 0.000 would say impossible."""
    if not 0 <= p <= 1:
        raise ValueError(f"a probability lies in [0, 1], got {p!r}")
    smallest = 10.0 ** -digits
    return f"< {smallest:.{digits}f}" if p < smallest / 2 else f"= {p:.{digits}f}"


def both_sets(values: Iterable) -> str:
    """One value per scene set in one table cell, as "validation / fresh": a row's state on both scene
    sets read side by side."""
    return " / ".join(map(str, values))


def table(header: Sequence[str], rows: Sequence[Sequence], digits: int = 3):
    """A Markdown table for ``display``: floats with ``digits`` decimals, everything else as given."""
    from IPython.display import Markdown

    def cell(value):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def padding_cost_table(padded: dict[str, tuple], unpadded: dict[str, tuple], layers: Sequence[str],
                       names: tuple[str, str] = ("padded", "unpadded")):
    """Layer by layer, what a network's padding costs, for ``display``: from two
    :func:`descendants.layer_costs` of the same layers (by the same names), each layer's output side
    in both, the share of the padded network's outputs that lie over its padding (those the unpadded
    one does not compute) and the MFLOPs of each. A layer missing from ``unpadded`` (its input was
    smaller than its window) shows "no output" and no share: where one network computes nothing,
    the other's outputs need not lie over its padding (FCN-8s's fc6 on the scenes does not)."""
    header = ["layer", f"side, {names[0]}", f"side, {names[1]}", "padding's share of the outputs",
              f"MFLOPs, {names[0]}", f"MFLOPs, {names[1]}"]
    rows = []
    for layer in layers:
        (height, width), flops = padded[layer]
        if layer in unpadded:
            (inner_h, inner_w), inner_flops = unpadded[layer]
            rows.append([layer, f"{height} x {width}", f"{inner_h} x {inner_w}",
                         f"{1 - inner_h * inner_w / (height * width):.0%}", f"{flops / 1e6:.1f}",
                         f"{inner_flops / 1e6:.1f}"])
        else:
            rows.append([layer, f"{height} x {width}", "no output", "-", f"{flops / 1e6:.1f}", "-"])
    return table(header, rows)


def last_epoch_table(histories: dict[str, list[dict]], keys: Sequence[str] = ("loss", "val_accuracy")):
    """A table of what each run's last epoch changed, for ``display``: per key, the change from the
    epoch before (a loss in per cent of its value, anything else as a difference) and the final
    value. A one-epoch history shows no change."""
    header = ["run", "epochs"]
    for key in keys:
        header += [f"last epoch: {_axis_label(key)}", f"final {_axis_label(key)}"]
    rows = []
    for name, history in histories.items():
        last, before = history[-1], history[-2] if len(history) > 1 else history[-1]
        row = [name, len(history)]
        for key in keys:
            change = (f"{last[key] / before[key] - 1:+.0%}" if "loss" in key
                      else f"{last[key] - before[key]:+.3f}")
            row += [change, float(last[key])]
        rows.append(row)
    return table(header, rows)


def gap_table(histories: dict[str, list[dict]], a: str, b: str,
              keys: Sequence[str] = ("loss", "val_accuracy")):
    """Two runs epoch by epoch, for ``display``: per key, run ``a``'s value, run ``b``'s and how far
    apart they are (the absolute difference), over the epochs both have."""
    header = ["epoch"]
    for key in keys:
        header += [f"{_axis_label(key)}: {a}", b, "apart"]
    rows = []
    for ours, theirs in zip(histories[a], histories[b]):
        row = [ours["epoch"]]
        for key in keys:
            row += [float(ours[key]), float(theirs[key]), abs(float(ours[key]) - float(theirs[key]))]
        rows.append(row)
    return table(header, rows)


def mistake_table(confusions: dict[str, torch.Tensor], names: Sequence[str],
                  shares: dict[str, float] | None = None, share_label: str = "share"):
    """A table of each classifier's wrong answers, for ``display``: how many, the share of them that
    ``shares`` gives (if any), the two most frequent kinds (each as true class taken for predicted
    class, with the count and, for the first, the true class's total; a kind as frequent as the
    second is named beside it, as tied) and the class most often predicted wrongly."""
    from .metrics import mistakes, ranked_mistakes

    header = ["classifier", "mistakes"] + ([share_label] if shares is not None else []) + [
        "most frequent mistake", "next most frequent", "most often predicted wrongly"]
    rows = []
    for name, confusion in confusions.items():
        wrong = mistakes(torch.as_tensor(confusion))
        ranked = ranked_mistakes(torch.as_tensor(confusion))
        first, second = (ranked + [None, None])[:2]
        tied = "".join(f", tied with {names[true]} taken for {names[guess]}"
                       for true, guess, count in ranked[2:] if second and count == second[2])
        column = int(wrong.sum(0).argmax())
        row = [name, int(wrong.sum())] + ([f"{shares[name]:.0%}"] if shares is not None else [])
        row += [f"{names[first[0]]} taken for {names[first[1]]}: {first[2]} of "
                f"{int(confusion[first[0]].sum())}" if first else "none",
                f"{names[second[0]]} taken for {names[second[1]]}: {second[2]}{tied}" if second else "none",
                f"{names[column]}: {int(wrong[:, column].sum())}"]
        rows.append(row)
    return table(header, rows)


def verdict_table(verdicts, fresh=None, fresh_scenes: int | None = None):
    """:class:`~fcn_lesson.stats.Verdict` s as a table: each difference with its interval, its verdict,
    how many seeds stand behind it, and (given the same comparisons on other scenes, ``fresh``)
    whether those scenes give the same verdict; with ``fresh_scenes`` (how many there are) that column
    says so in words: "verdict on N fresh scenes", "the same". A verdict from one seed says "(one run)":
    its interval covers the scenes, not the seed, so it does not read like one over several seeds."""
    header = ["comparison", "difference", "95% interval", "verdict", "seeds"]
    rows = [[f"{v.a} - {v.b}" + (f", {v.statistic}" if v.statistic else ""), f"{v.difference:+.3f}",
             f"{v.low:+.3f} to {v.high:+.3f}", v.outcome if v.seeds > 1 else f"{v.outcome} (one run)",
             v.seeds] for v in verdicts]
    if fresh is not None:
        header.append("fresh scenes" if fresh_scenes is None else f"verdict on {fresh_scenes} fresh scenes")
        same = "same" if fresh_scenes is None else "the same"
        for row, verdict, other in zip(rows, verdicts, fresh):
            row.append(same if other.ahead == verdict.ahead else f"{other.outcome}: undecided")
    return table(header, rows)


def levelling_table(levellings, fresh=None):
    """:class:`~fcn_lesson.evidence.Levelling` s as a table: per row, what its seed-0 run gained from
    a longer run (with its interval over the scenes), and what that step says against the yardstick:
    levelled, still rising or too close to call (one step: whether the row had levelled weighs every
    longer run, :func:`evidence.levelled_at`); given the same on other scenes (``fresh``), whether those
    agree. One yardstick for every row is named in the header, else each row's in a column."""
    yardsticks = {level.yardstick for level in levellings}
    shared = len(yardsticks) == 1
    header = ["row", "epochs", "gain in mean IU", "95% interval (scenes)",
              f"interval against {next(iter(yardsticks)):.3f}" if shared else "interval against the yardstick"]
    rows = [[level.arm, f"{level.epochs} -> {level.longer_epochs}", f"{level.gain.difference:+.3f}",
             f"{level.gain.low:+.3f} to {level.gain.high:+.3f}", level.state] for level in levellings]
    if not shared:
        header.insert(4, "yardstick")
        for row, level in zip(rows, levellings):
            row.insert(4, f"{level.yardstick:.3f}")
    if fresh is not None:
        header.append("fresh scenes")
        for row, level, other in zip(rows, levellings, fresh):
            row.append("same" if other.state == level.state else other.state)
    return table(header, rows)


def seed_table(per_seed: dict[str, dict[int, float]], signed: Sequence[str] = ()):
    """One line per row (``per_seed``: row -> FCN seed -> value), one column per seed any row has ("-"
    where a row lacks it), then the row's largest minus smallest value: how far a seed moves each row.
    Rows named in ``signed`` are differences, printed with their sign."""
    seeds = sorted(set().union(*per_seed.values()))

    def entry(row, seed):
        value = per_seed[row].get(seed)
        return "-" if value is None else f"{value:+.3f}" if row in signed else value
    return table(["row", *(f"FCN seed {seed}" for seed in seeds), "largest - smallest"],
                 [[row, *(entry(row, seed) for seed in seeds), max(values.values()) - min(values.values())]
                  for row, values in per_seed.items()])


def levelled_table(states: dict[str, tuple[str, str]], last: dict[str, tuple] | None = None):
    """Per row, what its runs say by the validation and by the fresh scenes (``states``: row -> the two
    :func:`evidence.level_state`: levelled at a budget, else still rising or too close to call at the last
    tested). ``last``: row -> its last step's two :class:`evidence.Levelling`, validation then fresh,
    shown beside with each scene set's yardstick in its header: a row called levelled gains less than
    the yardstick, and its gain's interval says whether it still gains."""
    header = ["row", "by the validation scenes", "by the fresh scenes"]
    rows = [[row, val, fresh] for row, (val, fresh) in states.items()]
    if last:
        steps = {(level.epochs, level.longer_epochs) for pair in last.values() for level in pair}
        shared = len(steps) == 1  # one step for every row: the header names it, the cells need not

        def gain(level):
            step = "" if shared else f"{level.epochs} -> {level.longer_epochs}: "
            return f"{step}{level.gain.difference:+.3f} ({level.gain.low:+.3f} to {level.gain.high:+.3f})"
        named = "{} -> {} epochs".format(*next(iter(steps))) if shared else "the last step"
        yardsticks = [sorted({pair[side].yardstick for pair in last.values()}) for side in (0, 1)]
        val, fresh = (" or ".join(f"{y:.3f}" for y in side) for side in yardsticks)
        header += [f"gain over {named}, validation (95% over scenes; yardstick {val})", f"fresh (yardstick {fresh})"]
        rows = [cells + [gain(level) for level in last[cells[0]]] for cells in rows]
    return table(header, rows)


#: The colour and marker of each levelling state in :func:`plot_last_steps` (a marker each, so that
#: the states do not rest on colour alone).
STATE_COLOURS = {"levelled": "tab:green", "too close to call": "tab:orange", "still rising": "tab:red"}
STATE_MARKERS = {"levelled": "o", "too close to call": "s", "still rising": "^"}


def plot_last_steps(last: dict[str, tuple], titles: Sequence[str] = ("validation scenes", "fresh scenes"),
                    band: float | None = None):
    """The levelling test drawn (``last``: row -> its step's :class:`evidence.Levelling` on each scene
    set): each row's gain with its 95 % interval, coloured by its state, against zero and against the
    yardstick (dashed): what a table of intervals makes the reader draw in their head. Where the rows'
    steps differ, each row's label names its own (as :func:`levelled_table` does). ``band``: shade the
    yardstick +- this much, where an interval's end tips its state if the gain moves by that much."""
    names = list(last)
    steps = {name: (last[name][0].epochs, last[name][0].longer_epochs) for name in names}
    labels = names if len(set(steps.values())) == 1 else [
        "{} ({} -> {})".format(name, *steps[name]) for name in names]
    fig, axes = plt.subplots(1, len(titles), figsize=(4.6 * len(titles), 0.36 * len(names) + 1.4),
                             sharey=True, sharex=True, squeeze=False)
    for column, (ax, title) in enumerate(zip(axes[0], titles)):
        for y, name in enumerate(names):
            level = last[name][column]
            gain, colour = level.gain, STATE_COLOURS[level.state]
            ax.errorbar(gain.difference, y, xerr=[[gain.difference - gain.low], [gain.high - gain.difference]],
                        fmt=STATE_MARKERS[level.state], color=colour, markersize=5, capsize=2)
        for yardstick in sorted({last[name][column].yardstick for name in names}):
            ax.axvline(yardstick, color="black", linestyle="--", linewidth=1, gid="yardstick")
            if band is not None:
                ax.axvspan(yardstick - band, yardstick + band, color="gray", alpha=0.15, gid="band")
            ax.annotate(f"{yardstick:.3f}", (yardstick, 0), xycoords=("data", "axes fraction"),
                        xytext=(3, 3), textcoords="offset points", fontsize=8)
        ax.axvline(0, color="gray", linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("gain in mean IU")
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].set_yticks(range(len(names)))
    axes[0][0].set_yticklabels(labels, fontsize=8)
    axes[0][0].invert_yaxis()
    handles = [Line2D([], [], color=colour, marker=STATE_MARKERS[state], linestyle="", label=state)
               for state, colour in STATE_COLOURS.items()]
    handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1, label="yardstick"))
    if band is not None:
        handles.append(Patch(color="gray", alpha=0.15, label=f"yardstick ± {band:.3f}"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_budget_scores(scores: dict[str, dict[str, dict[int, float]]],
                       seeds: dict[str, dict[str, Sequence[float]]] | None = None):
    """One panel per row (``scores``: row -> scene set -> budget in epochs -> run 0's mean IU there), a
    line per scene set over the budgets, on a log axis so that each step of about 1.5x is about one width
    (the slopes show how steps compare, not whether one counts: the levelling test decides). ``seeds``:
    row -> scene set -> its FCN seeds' mean IU at the first budget, drawn there as a range, to set each
    step against what a seed moves.
    Each panel has its own scale: the steps, not the rows' levels, are what it shows."""
    budgets = sorted({epochs for by_set in scores.values() for runs in by_set.values() for epochs in runs})
    sets = list(next(iter(scores.values())))
    columns = min(4, len(scores))
    rows = math.ceil(len(scores) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.9 * columns, 2.4 * rows), squeeze=False)
    for ax, (name, by_set) in zip(axes.flat, scores.items()):
        for index, scene_set in enumerate(sets):
            runs = sorted(by_set[scene_set].items())
            ax.plot([epochs for epochs, _ in runs], [value for _, value in runs], marker="o", markersize=3,
                    color=f"C{index}", linewidth=1.2)
            if seeds and name in seeds:
                values = seeds[name][scene_set]
                x = budgets[0] * (0.93 if index == 0 else 1.07)  # side by side
                ax.plot([x, x], [min(values), max(values)], color=f"C{index}", linewidth=3, alpha=0.35,
                        solid_capstyle="butt")
        ax.set_xscale("log")
        ax.set_xticks(budgets)
        ax.set_xticklabels([str(epochs) for epochs in budgets], fontsize=7)
        ax.minorticks_off()
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(scores):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean IU")
    for ax in axes[-1]:
        ax.set_xlabel("epochs")
    handles = [Line2D([], [], color=f"C{index}", marker="o", markersize=3, label=f"{scene_set}, run 0")
               for index, scene_set in enumerate(sets)]
    if seeds:
        handles.append(Line2D([], [], color="gray", linewidth=3, alpha=0.35,
                              label=f"FCN seeds' range at {budgets[0]} epochs"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_seed_points(panels: dict[str, dict[str, Sequence[float]]], *, ylabel: str,
                     ranges: dict[str, dict[str, tuple[float, float]]] | None = None, range_label: str = ""):
    """One panel per ``panels`` key (say, a scene set), one column of points per kind of seed in it, each
    point one seed's value labelled with its seed, over a line at zero: how far a few seeds spread, where
    a table of standard deviations would hide how few values they rest on. ``ranges`` (per panel, a
    (low, high) per kind) draws a band behind that kind's column, named ``range_label`` in a key: say,
    where a new seed's value would fall, so that a point can be seen inside it or not."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), sharey=True, squeeze=False)
    every = [value for kinds in panels.values() for values in kinds.values() for value in values]
    close = 0.05 * (max(every) - min(every))  # labels nearer than this would overlap
    for ax, (title, kinds) in zip(axes[0], panels.items()):
        for column, (kind, values) in enumerate(kinds.items()):
            band = (ranges or {}).get(title, {}).get(kind)
            if band is not None:
                ax.fill_between([column - 0.3, column + 0.3], *band, color=f"C{column}", alpha=0.15,
                                linewidth=0, label=range_label or None)
            ax.plot([column] * len(values), values, "o", color=f"C{column}", alpha=0.8)
            for seed, value in enumerate(values):  # a label near an earlier one goes on the left
                crowded = any(abs(value - earlier) < close for earlier in values[:seed])
                ax.annotate(str(seed), (column, value), xytext=(-12 if crowded else 6, -3),
                            textcoords="offset points", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(kinds)))
        ax.set_xticklabels(list(kinds), fontsize=8)
        ax.set_xlim(-0.6, len(kinds) - 0.4)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel(ylabel)
    if range_label and ranges:
        axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_differences(groups: dict[str, Sequence], ticks: Sequence[str], *, xlabel: str,
                     key_below: bool = False):
    """Paired differences (:class:`~fcn_lesson.stats.Verdict` s), one group per comparison, each with its
    95 % interval as an error bar, side by side at each of ``ticks``, over a line at zero. Why not two
    means with their own intervals: pairing on the same seeds and scenes removes what both rows share,
    so only the difference's own interval says whether it clears zero. ``key_below`` puts the key under
    the axes, where no interval can be hidden by it (an interval ending at zero, say)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.3))
    for index, (name, verdicts) in enumerate(groups.items()):
        x = np.arange(len(ticks)) + 0.2 * (index - (len(groups) - 1) / 2)
        values = np.array([v.difference for v in verdicts])
        bars = [values - [v.low for v in verdicts], [v.high for v in verdicts] - values]
        ax.errorbar(x, values, yerr=bars, fmt="o", capsize=3, label=name)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels(ticks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("difference, 95 % interval")
    ax.grid(alpha=0.3)
    if key_below:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=len(groups))
    else:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_by_thickness(tables: dict[str, list[dict]], keys: Sequence[str] = ("iu", "boundary_accuracy")):
    """Scores per thickness bin (:func:`scales.by_thickness`), one panel per score, one line per model;
    where a row also has ``<score>_low`` and ``<score>_high`` (an interval), a band around the line."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.8 * len(keys), 3.3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, rows in tables.items():
            banded = all(f"{key}_low" in row for row in rows)
            values = np.array([row[key] for row in rows], dtype=float)
            line, = ax.plot(range(len(rows)), values, marker="o", label=name)
            if banded:  # an interval: drawn as a band
                ax.fill_between(range(len(rows)), [row[f"{key}_low"] for row in rows],
                                [row[f"{key}_high"] for row in rows], color=line.get_color(), alpha=0.2)
        first = next(iter(tables.values()))
        ax.set_xticks(range(len(first)))
        ax.set_xticklabels([row["bin"] for row in first])
        ax.set_xlabel("local thickness at each pixel (px)")
        ax.set_ylabel(key.replace("_", " ").replace("iu", "IU"))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    fig.tight_layout()
    return fig


def _hyphenated(name: str) -> str:
    """A model's class name as the book writes it: FCN8s -> FCN-8s."""
    return re.sub(r"^FCN(\d+s)", r"FCN-\1", name)


def draw_fcn(model, ax=None):
    """An FCN's architecture drawn from the model itself: the backbone's blocks with their channels
    and strides (from ``geometry``), fc6/fc7, the score layers, the upsamplers and the derived crops.

    The backbone runs along the top, left to right; the scores come back along
    the bottom, right to left, each skip dropping in from the block it scores.
    """
    from matplotlib.patches import FancyBboxPatch

    from . import geometry

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4.2))
    blocks = list(model.backbone)
    layout, skips, crops = model.layout, model.skips, model.crops

    def box(x, y, text, colour):
        ax.add_patch(FancyBboxPatch((x - 0.45, y - 0.32), 0.9, 0.64, boxstyle="round,pad=0.03",
                                    facecolor=colour, edgecolor="0.3"))
        ax.text(x, y, text, ha="center", va="center", fontsize=8)

    def arrow(start, end):
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "0.3"})

    top, middle, bottom = 1.0, 0.2, -0.6
    skip_blocks = [4, 3][:skips]
    # one column per box; a gap after a skipped block whose successor is skipped too leaves room on
    # the way back for the upsampler between their two "+" boxes, so each "+" sits under its block
    column = [0]
    for k in range(1, len(blocks) + 1):
        column.append(column[-1] + 1 + (k - 1 in skip_blocks and k in skip_blocks))
    box(0, top, f"input\n3 ch\npad {model.padding}", "0.93")
    for k in range(1, len(blocks) + 1):
        stride = geometry.coord_map(blocks[:k]).scale
        box(column[k], top, f"block{k}\n{layout.widths[k - 1]} ch\n/{stride}", "#cfe2f3")
        arrow((column[k - 1] + 0.45, top), (column[k] - 0.45, top))
    head = column[-1] + 1
    box(head, top, f"fc6 {layout.fc6_kernel}x{layout.fc6_kernel}\nfc7 1x1\n{layout.fc_width} ch", "#d9ead3")
    arrow((head - 0.55, top), (head - 0.45, top))
    box(head + 1, top, f"score_fr\n1x1 -> {model.num_classes}", "#fce5cd")
    arrow((head + 0.45, top), (head + 0.55, top))
    # the way back along the bottom, right to left: upsample, add the cropped skip under its block, ...
    upsamplers = model.geometry_paths()[1]
    x = column[skip_blocks[0]] + 1 if skips else head + 1  # the first upsampler
    if x < head + 1:  # down from score_fr, then left along the bottom to the first upsampler
        ax.plot([head + 1, head + 1], [top - 0.32, bottom], color="0.3", linewidth=1)
        arrow((head + 1, bottom), (x + 0.45, bottom))
    else:
        arrow((x, top - 0.32), (x, bottom + 0.32))
    for step, block in enumerate(skip_blocks):
        up, here = upsamplers[step], column[block]
        box(x, bottom, f"x{up.stride[0]}\nkernel {up.kernel_size[0]}", "#ead1dc")
        box(here, bottom, f"+\ncrop {crops[step]}", "#fff2cc")
        arrow((x - 0.45, bottom), (here + 0.45, bottom))
        box(here, middle, f"score_pool{block}\n1x1 -> {model.num_classes}", "#fce5cd")
        arrow((here, top - 0.32), (here, middle + 0.32))
        arrow((here, middle - 0.32), (here, bottom + 0.32))
        arrow((here - 0.45, bottom), (here - 0.55, bottom))
        x = here - 1
    final = upsamplers[-1]
    box(x, bottom, f"x{final.stride[0]}\nkernel {final.kernel_size[0]}", "#ead1dc")
    box(x - 1, bottom, f"crop {crops[-1]}", "#fff2cc")
    arrow((x - 0.45, bottom), (x - 0.55, bottom))
    box(x - 2, bottom, f"output\n{model.num_classes} x H x W", "0.93")
    arrow((x - 1.45, bottom), (x - 1.55, bottom))
    ax.set_xlim(min(-0.6, x - 2.6), head + 1.6)
    ax.set_ylim(bottom - 0.6, top + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    noun = "crop" if len(crops) == 1 else "crops"
    ax.set_title(f"{_hyphenated(type(model).__name__)}: {noun} {', '.join(map(str, crops))}, derived from the layers")
    return ax


def draw_ruler(model, size: int, ax=None):
    """Chapter 5's alignment along one image axis, to scale: the padded input, the pool5 grid, the
    map the last upsampler reads with its kernels' tents, and the output with its derived crop.

    Every position comes from ``geometry``'s coordinate maps of ``model``; the
    drawing checks that the crop puts output pixel ``crop`` on image pixel 0.
    """
    from . import geometry

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 3.6))
    segments, upsamplers = model.geometry_paths()
    last = upsamplers[-1]
    coarse = list(segments) + list(upsamplers[:-1])  # the path to the map the last upsampler reads
    pool5, read = geometry.coord_map(model.backbone), geometry.coord_map(coarse)
    out = geometry.coord_map(coarse + [last])
    n5, n, m = (geometry.output_size(layers, size) for layers in (model.backbone, coarse, coarse + [last]))
    crop, pad = model.crops[-1], model.padding
    assert out(crop) == 0, "the derived crop must put an output pixel on image pixel 0"
    rows = {"input": 4, "pool5": 3, "read": 2, "output": 0.6}
    ax.broken_barh([(-pad, pad), (size, pad)], (rows["input"] - 0.2, 0.4), facecolor="0.85",
                   hatch="//", edgecolor="0.6")
    ax.broken_barh([(0, size)], (rows["input"] - 0.2, 0.4), facecolor="#9fc5e8")
    ax.text(-pad, rows["input"] + 0.35, f"padding {pad}", fontsize=8)
    ax.text(0, rows["input"] + 0.35, f"image, {size} px", fontsize=8)
    centres = [float(pool5(i)) for i in range(n5)]
    ax.plot(centres, [rows["pool5"]] * n5, "s", color="#3d85c6", markersize=4)
    ax.text(centres[0], rows["pool5"] + 0.25, f"pool5: {n5} cells, {pool5}", fontsize=8)
    stride = float(last.stride[0])
    half = last.kernel_size[0] / 2  # each input pixel spreads over kernel_size output pixels
    for i in range(n):
        centre = float(read(i))
        ax.plot([centre - half, centre, centre + half], [rows["output"] + 0.3, rows["read"], rows["output"] + 0.3],
                color="#c27ba0", alpha=0.6, linewidth=1)
    ax.plot([float(read(i)) for i in range(n)], [rows["read"]] * n, "o", color="#a64d79", markersize=4)
    ax.text(float(read(0)), rows["read"] + 0.25, f"map read by the last upsampler (stride {float(read.scale):g}):"
            f" {n} pixels; tents: kernel {last.kernel_size[0]}, stride {stride:g}", fontsize=8)
    first, end = float(out(0)) - 0.5, float(out(m - 1)) + 0.5
    ax.broken_barh([(first, crop)], (rows["output"] - 0.2, 0.4), facecolor="#e06666")
    ax.broken_barh([(-0.5, size)], (rows["output"] - 0.2, 0.4), facecolor="#93c47d")
    ax.broken_barh([(size - 0.5, end - size + 0.5)], (rows["output"] - 0.2, 0.4), facecolor="0.8")
    ax.text(first, rows["output"] - 0.55, f"crop {crop}", fontsize=8, color="#990000")
    ax.text(0, rows["output"] - 0.55, f"kept: {size} px on the image's pixels", fontsize=8)
    ax.text(size, rows["output"] - 0.55, f"cut off: {m - crop - size}", fontsize=8)
    ax.axvline(0, color="k", linewidth=0.8, linestyle=":")
    ax.axvline(size, color="k", linewidth=0.8, linestyle=":")
    read_name = "score_fr" if len(upsamplers) == 1 else f"fused,\nstride {float(read.scale):g}"
    ax.set_yticks(list(rows.values()), ["input", "pool5", read_name, "output"])
    ax.set_ylim(-0.2, 4.7)
    ax.set_xlim(min(-pad, centres[0]) - 8, max(size + pad, centres[-1]) + 8)  # no marker clipped
    ax.set_xlabel("input coordinate (px)")
    ax.tick_params(axis="y", length=0)  # a two-line label would sit beside its tick, not at it
    ax.set_title(f"{_hyphenated(type(model).__name__)}: output pixel i sits at x = i - {crop}; the final crop {crop} aligns it")
    return ax


def lineage(fcn8s, dilated, unet) -> dict[str, dict[str, str]]:
    """For each of FCN's three ideas, the part of each network that carries it, read off the models:
    strides (from ``geometry``), dilations, kernel sizes, upsampling factors, crops and layer counts;
    whether FCN-8s's upsamplers take gradients ("fixed" or "learned"); and, for the U-Net, how many
    channels each mixing convolution reads beyond its upsampler's output (the encoder's map, or the
    image, concatenated). The words around those numbers (bilinear, added, none) are written in."""
    import math

    from torch import nn

    from . import geometry

    def kernel(conv):
        return f"{conv.kernel_size[0]}x{conv.kernel_size[1]}"

    head_stride = int(geometry.coord_map(dilated.backbone).scale)
    dilations = sorted({m.dilation[0] for m in dilated.modules() if isinstance(m, nn.Conv2d)} - {1})
    head = [kernel(m) for m in dilated.head if isinstance(m, nn.Conv2d)]
    upsamplers = fcn8s.geometry_paths()[1]
    factors = ", ".join(f"x{up.stride[0]}" for up in upsamplers)
    fixed = "learned" if any(up.weight.requires_grad for up in upsamplers) else "fixed"
    ups = [m for m in unet.modules() if isinstance(m, nn.ConvTranspose2d)]
    unet_stride = int(geometry.coord_map(unet.backbone).scale) // math.prod(up.stride[0] for up in ups)
    steps = [*unet.decoder, unet.final]
    joined = [step.mix[0].in_channels - step.up.out_channels for step in steps]  # beyond the upsampler's
    k = fcn8s.head.fc6.kernel_size[0]
    return {
        "dense prediction\nby convolution": {
            "FCN-8s": f"fc6, fc7 as convolutions\n({k}x{k}, 1x1); scores at\nstride {int(geometry.coord_map(fcn8s.backbone).scale)}",
            "dilated": f"backbone kept at stride {head_stride}\n(dilation {', '.join(map(str, dilations))});\n"
                       + " conv + ".join(head) + " head",
            "U-Net": f"convolutions throughout;\n{kernel(unet.final.score)} scores at stride {unet_stride}",
        },
        "upsampling\ninside the network": {
            "FCN-8s": f"bilinear transposed\nconvolutions {factors}\n({fixed})",
            "dilated": f"bilinear interpolation\nx{head_stride} to the input size\n(no weights, no crop)",
            "U-Net": f"{len(ups)} learned 2x transposed\nconvolutions",
        },
        "skips across\nresolutions": {
            "FCN-8s": f"pool4, pool3 scores\nadded (crops {fcn8s.crops[0]}, {fcn8s.crops[1]})",
            "dilated": "none: dilation keeps\nthe resolution instead",
            "U-Net": f"{len(unet.decoder)} encoder maps and the\nimage concatenated\n("
                     + ", ".join(map(str, joined)) + " channels),\nmixed by "
                     + kernel(unet.decoder[0].mix[0]) + " convolutions",
        },
    }


def draw_lineage(table: dict[str, dict[str, str]], ax=None):
    """The :func:`lineage` table as a grid: FCN's ideas down the side, the networks across the top."""
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4.6))
    ideas, networks = list(table), list(next(iter(table.values())))
    colours = ["#fce5cd", "#d9ead3", "#cfe2f3"]
    for col, network in enumerate(networks):
        ax.text(col + 1, len(ideas) - 0.35, network, ha="center", va="center", fontsize=11, weight="bold")
    for row, idea in enumerate(ideas):
        y = len(ideas) - 1 - row
        ax.text(-0.05, y, idea, ha="center", va="center", fontsize=9, weight="bold")
        for col, network in enumerate(networks):
            ax.add_patch(FancyBboxPatch((col + 0.55, y - 0.4), 0.9, 0.8, boxstyle="round,pad=0.02",
                                        facecolor=colours[row], edgecolor="0.4"))
            ax.text(col + 1, y, table[idea][network], ha="center", va="center", fontsize=8)
    ax.set_xlim(-0.6, len(networks) + 0.5)
    ax.set_ylim(-0.6, len(ideas) - 0.1)
    ax.axis("off")
    return ax
