"""Pictures the chapters draw: colour-coded labels, overlays, grids, kernels, training curves.

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

__all__ = ["class_legend", "colorize", "denormalize", "overlay", "plot_history", "show_kernel", "show_pairs"]


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
