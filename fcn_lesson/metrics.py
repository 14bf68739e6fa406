"""The paper's four segmentation scores, all read off one confusion matrix.

With ``n[i, j]`` the number of pixels of true class ``i`` predicted as ``j`` and
``t[i] = sum_j n[i, j]`` the pixels of class ``i`` (Long et al., section 5):

* pixel accuracy      ``sum_i n[i, i] / sum_i t[i]``
* mean accuracy       ``mean_i n[i, i] / t[i]``
* mean IU             ``mean_i n[i, i] / (t[i] + sum_j n[j, i] - n[i, i])``
* frequency weighted  ``sum_i t[i] IU[i] / sum_i t[i]``

Means run over the classes that occur: a class absent from both prediction and
target has no IU at all (0 / 0), and counting it as 0 or 1 would distort the mean.
"""
from __future__ import annotations

import torch

__all__ = ["boundary_mask", "class_iu", "confusion_matrix", "mean_iu", "mistakes", "pixel_accuracy",
           "prediction_changes", "ranked_mistakes", "scores"]


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = 255, *, per_image: bool = False) -> torch.Tensor:
    """``num_classes x num_classes`` counts: row = true class, column = predicted class.

    Pixels whose target is ``ignore_index`` (VOC's object borders) are left out.
    ``pred`` holds class indices, not scores: take ``logits.argmax(1)`` first.
    With ``per_image``, ``N x H x W`` maps give one matrix per image, ``N x num_classes x num_classes``
    (the per-scene counts :mod:`fcn_lesson.evidence` stores).
    """
    if per_image and pred.dim() != 3:
        raise ValueError(f"per_image counts N x H x W maps; got {tuple(pred.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape; "
                         "pass class indices (logits.argmax(1)), not the logits")
    if pred.is_floating_point() or target.is_floating_point():
        raise ValueError("pass integer class indices (e.g. logits.argmax(1)), not floating-point scores")
    valid = target != ignore_index
    image = torch.arange(len(pred)).view(-1, 1, 1).expand_as(pred)[valid] if per_image else 0
    pred, target = pred[valid].long(), target[valid].long()
    for name, values in (("prediction", pred), ("target", target)):
        if values.numel() and (values.min() < 0 or values.max() >= num_classes):
            bad = values[(values < 0) | (values >= num_classes)][0].item()
            raise ValueError(f"{name} holds class {bad}, outside 0..{num_classes - 1} "
                             f"(and not the ignore index {ignore_index})")
    images = valid.shape[0] if per_image else 1
    counts = torch.bincount((image * num_classes + target) * num_classes + pred,
                            minlength=images * num_classes ** 2)
    shape = (images, num_classes, num_classes) if per_image else (num_classes, num_classes)
    return counts.reshape(shape).cpu()


def class_iu(confusion: torch.Tensor) -> torch.Tensor:
    """Per-class IU of ``... x C x C`` confusion matrices (any leading dimensions: a stack of them, as
    a bootstrap draws): ``nan`` where a class appears nowhere."""
    right = confusion.diagonal(dim1=-2, dim2=-1)
    return right / (confusion.sum(-1) + confusion.sum(-2) - right)


def mean_iu(confusion: torch.Tensor) -> torch.Tensor:
    """Mean IU of ``... x C x C`` confusion matrices, over the classes that appear."""
    return torch.nanmean(class_iu(confusion), -1)


def pixel_accuracy(confusion: torch.Tensor) -> torch.Tensor:
    """Pixel accuracy of ``... x C x C`` confusion matrices."""
    return confusion.diagonal(dim1=-2, dim2=-1).sum(-1) / confusion.sum((-2, -1))


def scores(confusion: torch.Tensor) -> dict:
    """Pixel accuracy, mean accuracy, mean IU, frequency-weighted IU and per-class IU.

    Per-class values are ``nan`` for classes absent from both target and
    prediction (their IU is undefined); the means leave them out.
    """
    confusion = confusion.double()
    true_diag = confusion.diag()
    per_class_total = confusion.sum(1)  # t[i]
    total = confusion.sum()
    if total == 0:
        raise ValueError("the confusion matrix is empty: every pixel was ignored or none was given")
    iu = class_iu(confusion)
    accuracy = true_diag / per_class_total  # nan where the class is not in the target
    present = per_class_total > 0
    return {
        "pixel_accuracy": float(pixel_accuracy(confusion)),
        "mean_accuracy": float(accuracy[present].mean()),
        "mean_iu": float(mean_iu(confusion)),
        "fw_iu": float((per_class_total[present] * iu[present]).sum() / total),
        "class_iu": iu.tolist(),
    }


def boundary_mask(target: torch.Tensor, width: int, ignore_index: int = 255) -> torch.Tensor:
    """Pixels within ``width`` pixels (chessboard distance) of a place where the true class changes.

    Scoring only these pixels measures what coarse outputs get wrong: the
    interior of a large object is easy at any stride, its outline is not.
    Label maps are ``H x W`` or ``N x H x W``; the ``ignore_index`` borders
    count as edges (they lie on them) but are never in the mask themselves.
    """
    if width < 0:
        raise ValueError(f"width must be >= 0 pixels, got {width}")
    if target.dim() not in (2, 3) or target.is_floating_point():
        raise ValueError(f"pass integer label maps H x W or N x H x W, got {tuple(target.shape)} {target.dtype}")
    labels = target.long().unsqueeze(0) if target.dim() == 2 else target.long()
    vertical = labels[:, 1:] != labels[:, :-1]  # a change between a pixel and the one below it
    horizontal = labels[:, :, 1:] != labels[:, :, :-1]
    edge = torch.zeros_like(labels, dtype=torch.bool)
    edge[:, 1:] |= vertical
    edge[:, :-1] |= vertical
    edge[:, :, 1:] |= horizontal
    edge[:, :, :-1] |= horizontal
    band = torch.nn.functional.max_pool2d(edge[:, None].float(), 2 * width + 1, stride=1, padding=width)[:, 0] > 0
    band &= labels != ignore_index
    return band[0] if target.dim() == 2 else band


def mistakes(confusion: torch.Tensor) -> torch.Tensor:
    """The wrong answers of a ``C x C`` confusion matrix: the matrix with its diagonal set to zero."""
    if confusion.dim() != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"pass one square C x C confusion matrix, got {tuple(confusion.shape)}")
    return confusion * (1 - torch.eye(len(confusion), dtype=confusion.dtype, device=confusion.device))


def prediction_changes(before: torch.Tensor, after: torch.Tensor, target: torch.Tensor,
                       num_classes: int, ignore_index: int = 255) -> dict[str, float | int]:
    """How the predicted label maps ``after`` differ from ``before`` (same shape, class 0 the
    background), with ``target``'s labels for scale: the share of object pixels in the labels
    (ignored pixels left out) and in ``before``; the share of all pixels, and of ``before``'s object
    pixels, that keep their class; how many pixels go object -> background, background -> object
    and object -> another object; and both mean IUs against ``target``. Shares and IUs are floats,
    counts ints."""
    if before.shape != after.shape or before.shape != target.shape:
        raise ValueError(f"before, after and target must have one shape, got {tuple(before.shape)}, "
                         f"{tuple(after.shape)} and {tuple(target.shape)}")
    same, objects = before == after, before != 0
    valid = target != ignore_index
    truth = (target != 0) & valid

    def iu(predicted):
        return mean_iu(confusion_matrix(predicted, target, num_classes, ignore_index)).item()
    return {"object pixels: share in the labels": (truth.sum() / valid.sum()).item(),
            "object pixels: share before": objects.float().mean().item(),
            "unchanged: all pixels": same.float().mean().item(),
            "unchanged: the object pixels before": same[objects].float().mean().item(),
            "object -> background (pixels)": int((objects & (after == 0)).sum()),
            "background -> object (pixels)": int((~objects & (after != 0)).sum()),
            "object -> another object (pixels)": int((objects & (after != 0) & ~same).sum()),
            "mean IU before": iu(before),
            "mean IU after": iu(after)}


def ranked_mistakes(confusion: torch.Tensor) -> list[tuple[int, int, int]]:
    """Every kind of wrong answer of a ``C x C`` confusion matrix as ``(true, predicted, count)``,
    the most frequent first (ties in row-major order); kinds that never occurred are left out."""
    wrong = mistakes(confusion)
    kinds = [(true, predicted, int(wrong[true, predicted])) for true, predicted in
             torch.nonzero(wrong).tolist()]
    return sorted(kinds, key=lambda kind: -kind[2])
