"""Pictures and tables the chapters draw: colour-coded labels, overlays, grids, kernels, curves, results.

Every function draws into matplotlib axes it is given (or makes a figure) and
returns the figure or axes, so a chapter can add titles and assert on data
rather than on pixels.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch

from .data import CLASSES, IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, PALETTE

__all__ = ["class_legend", "colorize", "compare_outlines", "continued", "denormalize", "draw_fcn", "draw_lineage",
           "lineage", "overlay", "plot_by_thickness", "plot_history", "show_kernel", "show_pairs",
           "table", "verdict_table"]


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
    objects = (np.asarray(label.cpu()) != 0) & (np.asarray(label.cpu()) != IGNORE_INDEX)
    picture[objects] = (1 - alpha) * picture[objects] + alpha * colours[objects]
    return picture


def class_legend(ax, classes: Sequence[str] = CLASSES, ignore: bool = True) -> None:
    """A legend of class colours beside ``ax``."""
    palette = np.asarray(PALETTE).reshape(256, 3) / 255
    handles = [Patch(color=palette[i], label=name) for i, name in enumerate(classes)]
    if ignore:
        handles.append(Patch(color=palette[IGNORE_INDEX], label=f"ignore ({IGNORE_INDEX})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)


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


def compare_outlines(image: torch.Tensor, label: torch.Tensor, predictions: dict[str, torch.Tensor],
                     size: float = 3.0):
    """The image, then each prediction in colour with the true objects' outlines drawn over it in
    white: a shifted prediction shows as colour spilling out of its outline on one side."""
    fig, axes = plt.subplots(1, len(predictions) + 1, figsize=(size * (len(predictions) + 1) + 1.5, size))
    truth = np.asarray(label.cpu())
    objects = ((truth != 0) & (truth != IGNORE_INDEX)).astype(float)
    axes[0].imshow(denormalize(image))
    axes[0].set_title("image")
    for ax, (name, predicted) in zip(axes[1:], predictions.items()):
        ax.imshow(colorize(predicted), interpolation="nearest")
        ax.contour(objects, levels=[0.5], colors="w", linewidths=0.8)
        ax.set_title(name)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    class_legend(axes[-1], ignore=False)
    fig.tight_layout()
    return fig


def show_kernel(kernel: torch.Tensor, ax=None, title: str | None = None):
    """A 2-D kernel as an image with its values written in (when it is small enough to read)."""
    kernel = kernel.detach().cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(kernel, cmap="viridis")
    if kernel.shape[0] <= 8:
        for (i, j), value in np.ndenumerate(kernel):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if title:
        ax.set_title(title)
    return ax


def plot_history(histories: dict[str, list[dict]], keys: Sequence[str] = ("loss", "val_mean_iu")):
    """Training curves, one panel per key, one line per model, against epochs."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, history in histories.items():
            points = [(h["epoch"], h[key]) for h in history if key in h]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key.replace("val_", "validation ").replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    fig.tight_layout()
    return fig


def continued(*histories: list[dict]) -> list[dict]:
    """The histories of consecutive stages as one, each stage's epochs counted on from the last."""
    joined: list[dict] = []
    for history in histories:
        done = joined[-1]["epoch"] if joined else 0
        joined += [{**record, "epoch": record["epoch"] + done} for record in history]
    return joined


def table(header: Sequence[str], rows: Sequence[Sequence]):
    """A Markdown table for ``display``: floats with three decimals, everything else as given."""
    from IPython.display import Markdown

    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def verdict_table(verdicts, fresh=None):
    """:class:`~fcn_lesson.stats.Verdict` s as a table: each difference with its interval, its verdict,
    how many seeds stand behind it, and (given the same comparisons on other scenes, ``fresh``)
    whether those scenes give the same verdict."""
    header = ["comparison", "difference", "95% interval", "verdict", "seeds"]
    rows = [[f"{v.a} - {v.b}" + (f", {v.statistic}" if v.statistic else ""), f"{v.difference:+.3f}",
             f"{v.low:+.3f} to {v.high:+.3f}", v.outcome, v.seeds] for v in verdicts]
    if fresh is not None:
        header.append("fresh scenes")
        for row, verdict, other in zip(rows, verdicts, fresh):
            row.append("same" if other.ahead == verdict.ahead else f"{other.outcome}: undecided")
    return table(header, rows)


def plot_by_thickness(tables: dict[str, list[dict]], keys: Sequence[str] = ("iu", "boundary_accuracy")):
    """Scores per thickness bin (:func:`scales.by_thickness`), one panel per score, one line per model;
    where a row also has ``<score>_low`` and ``<score>_high`` (an interval), a band around the line."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.8 * len(keys), 3.3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, rows in tables.items():
            line, = ax.plot(range(len(rows)), [row[key] for row in rows], marker="o", label=name)
            if all(f"{key}_low" in row for row in rows):  # an interval: drawn as a band
                ax.fill_between(range(len(rows)), [row[f"{key}_low"] for row in rows],
                                [row[f"{key}_high"] for row in rows], color=line.get_color(), alpha=0.2)
        first = next(iter(tables.values()))
        ax.set_xticks(range(len(first)))
        ax.set_xticklabels([row["bin"] for row in first])
        ax.set_xlabel("local thickness of the shape (px)")
        ax.set_ylabel(key.replace("_", " ").replace("iu", "IU"))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    fig.tight_layout()
    return fig


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
    box(0, top, f"input\n3 ch\npad {model.padding}", "0.93")
    for k in range(1, len(blocks) + 1):
        stride = geometry.coord_map(blocks[:k]).scale
        box(k, top, f"block{k}\n{layout.widths[k - 1]} ch\n/{stride}", "#cfe2f3")
        arrow((k - 0.55, top), (k - 0.45, top))
    head = len(blocks) + 1
    box(head, top, f"fc6 {layout.fc6_kernel}x{layout.fc6_kernel}\nfc7 1x1\n{layout.fc_width} ch", "#d9ead3")
    arrow((head - 0.55, top), (head - 0.45, top))
    box(head + 1, top, f"score_fr\n1x1 -> {model.num_classes}", "#fce5cd")
    arrow((head + 0.45, top), (head + 0.55, top))
    # the way back along the bottom, right to left: upsample, add a cropped skip, ...
    x, upsamplers = head + 1, model.geometry_paths()[1]
    arrow((x, top - 0.32), (x, bottom + 0.32))
    for step, block in enumerate([4, 3][:skips]):
        up = upsamplers[step]
        box(x, bottom, f"x{up.stride[0]}\nkernel {up.kernel_size[0]}", "#ead1dc")
        box(x - 1, bottom, f"+\ncrop {crops[step]}", "#fff2cc")
        arrow((x - 0.45, bottom), (x - 0.55, bottom))
        box(block, middle, f"score_pool{block}\n1x1 -> {model.num_classes}", "#fce5cd")
        arrow((block, top - 0.32), (block, middle + 0.32))
        arrow((block + 0.1, middle - 0.32), (x - 1.1, bottom + 0.32))
        arrow((x - 1.45, bottom), (x - 1.55, bottom))
        x -= 2
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
    ax.set_title(f"{type(model).__name__}: crops {', '.join(map(str, crops))}, derived by geometry")
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
    ax.set_yticks(list(rows.values()), ["input", "pool5", "score", "output"])
    ax.set_ylim(-0.2, 4.7)
    ax.set_xlim(-pad - 5, size + pad + 5)
    ax.set_xlabel("input coordinate (px)")
    ax.set_title(f"{type(model).__name__}: output pixel i sits at x = i - {crop}; crop {crop} aligns it")
    return ax


def lineage(fcn8s, dilated, unet) -> dict[str, dict[str, str]]:
    """For each of FCN's three ideas, the part of each network that carries it, read off the models
    (strides from ``geometry``, crops, kernels and layer counts from the modules)."""
    from torch import nn

    from . import geometry

    head_stride = int(geometry.coord_map(dilated.backbone).scale)
    dilations = sorted({m.dilation[0] for m in dilated.modules() if isinstance(m, nn.Conv2d)} - {1})
    ups = [m for m in unet.modules() if isinstance(m, nn.ConvTranspose2d)]
    factors = ", ".join(f"x{up.stride[0]}" for up in fcn8s.geometry_paths()[1])
    k = fcn8s.head.fc6.kernel_size[0]
    return {
        "dense prediction\nby convolution": {
            "FCN-8s": f"fc6, fc7 as convolutions\n({k}x{k}, 1x1); scores at\nstride {int(geometry.coord_map(fcn8s.backbone).scale)}",
            "dilated": f"backbone kept at stride {head_stride}\n(dilation {', '.join(map(str, dilations))});\n3x3 conv + 1x1 head",
            "U-Net": "convolutions throughout;\n1x1 scores at stride 1",
        },
        "upsampling\ninside the network": {
            "FCN-8s": f"bilinear transposed\nconvolutions {factors}\n(fixed)",
            "dilated": f"bilinear interpolation\nx{head_stride} to the input size\n(fixed, no crop)",
            "U-Net": f"{len(ups)} learned 2x transposed\nconvolutions",
        },
        "skips across\nresolutions": {
            "FCN-8s": f"pool4, pool3 scores\nadded (crops {fcn8s.crops[0]}, {fcn8s.crops[1]})",
            "dilated": "none: dilation keeps\nthe resolution instead",
            "U-Net": f"{len(unet.decoder)} encoder maps and the\nimage concatenated,\nmixed by 3x3 convolutions",
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
