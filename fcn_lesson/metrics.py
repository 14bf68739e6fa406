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

__all__ = ["all_background", "boundary_mask", "class_iu", "class_precision", "component_max", "confusion_matrix",
           "found_objects", "mean_iu", "mistake_kinds", "mistakes", "object_components", "objects_found", "pixel_accuracy",
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


def all_background(labels, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """The confusion matrix of calling every pixel of ``labels`` (label maps: a list, or an
    ``N x H x W`` tensor) background, class 0: the floor every trained net's scores are read against."""
    return sum(confusion_matrix(torch.zeros_like(label), label, num_classes, ignore_index)
               for label in labels)


def class_iu(confusion: torch.Tensor) -> torch.Tensor:
    """Per-class IU of ``... x C x C`` confusion matrices (any leading dimensions: a stack of them, as
    a bootstrap draws): ``nan`` where a class appears nowhere."""
    right = confusion.diagonal(dim1=-2, dim2=-1)
    return right / (confusion.sum(-1) + confusion.sum(-2) - right)


def class_precision(confusion: torch.Tensor) -> torch.Tensor:
    """Per-class precision of ``... x C x C`` confusion matrices: of the pixels predicted as each
    class, the share whose label is that class (pixels labelled with the ignore index are already
    out of the counts); ``nan`` for a class never predicted."""
    right = confusion.diagonal(dim1=-2, dim2=-1)
    return right / confusion.sum(-2)


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


def object_components(target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """The objects of integer label maps (``H x W`` or ``N x H x W``): each 4-connected region of one
    object class gets its own id, 1, 2, ... (unique over the whole batch); background (0) and
    ``ignore_index`` pixels get 0. Two touching objects of one class are one region."""
    from scipy import ndimage

    if target.dim() not in (2, 3) or target.is_floating_point():
        raise ValueError(f"pass integer label maps H x W or N x H x W, got {tuple(target.shape)} {target.dtype}")
    labels = (target.long().unsqueeze(0) if target.dim() == 2 else target.long()).cpu().numpy()
    structure = ndimage.generate_binary_structure(2, 1)[None] * [[[0]], [[1]], [[0]]]  # no link across maps
    ids = torch.zeros(labels.shape, dtype=torch.long)
    count = 0
    for cls in sorted(set(labels.ravel().tolist()) - {0, ignore_index}):
        regions, found = ndimage.label(labels == cls, structure=structure)
        regions = torch.from_numpy(regions).long()
        ids = torch.where(regions > 0, regions + count, ids)
        count += found
    ids = ids.to(target.device)
    return ids[0] if target.dim() == 2 else ids


def component_max(values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Every pixel gets the largest of ``values`` over its object (``ids`` from
    :func:`object_components`, same shape): an object's thickness from a per-pixel thickness map.
    0 where ``ids`` is 0."""
    if values.shape != ids.shape:
        raise ValueError(f"values and ids must have one shape, got {tuple(values.shape)} and {tuple(ids.shape)}")
    flat = values.flatten().double()
    most = torch.zeros(int(ids.max()) + 1, dtype=flat.dtype, device=values.device)
    most = most.scatter_reduce(0, ids.flatten(), flat, "amax", include_self=False)
    most[0] = 0
    return most[ids].to(values.dtype)


def found_objects(predicted: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """The pixels of the true objects that ``predicted`` touches: an object (:func:`object_components`)
    is found when at least one of its pixels is predicted as its class. Boolean, shaped as ``target``."""
    return _found(predicted, target, object_components(target, ignore_index))


def _found(predicted: torch.Tensor, target: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """:func:`found_objects`, from ``target``'s objects ``ids`` labelled once by the caller."""
    if predicted.shape != target.shape:
        raise ValueError(f"predicted and target must have one shape, got {tuple(predicted.shape)} "
                         f"and {tuple(target.shape)}")
    hit = torch.zeros(int(ids.max()) + 1, dtype=torch.bool, device=ids.device)
    hit[ids[(predicted == target) & (ids > 0)]] = True
    hit[0] = False
    return hit[ids]


def objects_found(predicted: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> tuple[int, int]:
    """``(found, total)``: how many of ``target``'s objects (:func:`object_components`) ``predicted``
    touches with their own class, and how many there are."""
    ids = object_components(target, ignore_index)
    found = _found(predicted, target, ids)
    return int(ids[found].unique().numel()), int(ids[ids > 0].unique().numel())


def mistake_kinds(predicted: torch.Tensor, target: torch.Tensor, width: int,
                  ignore_index: int = 255) -> dict[str, torch.Tensor]:
    """The wrong pixels of ``predicted`` (``ignore_index`` left out), split into six boolean masks that
    do not overlap and together hold every wrong pixel:

    * ``missed``: pixels of an object never predicted as its class (:func:`found_objects`), called
      background;
    * ``misnamed``: pixels of such an object called another object class;
    * ``found, band``: pixels of a found object within ``width`` px of an outline (:func:`boundary_mask`);
    * ``found, inside``: pixels of a found object farther in;
    * ``background, band``: background pixels called an object, within ``width`` px of an outline;
    * ``background, far``: background pixels called an object, farther out.
    """
    if predicted.shape != target.shape:
        raise ValueError(f"predicted and target must have one shape, got {tuple(predicted.shape)} "
                         f"and {tuple(target.shape)}")
    wrong = (predicted != target) & (target != ignore_index)
    objects = wrong & (target != 0)
    found = found_objects(predicted, target, ignore_index)
    band = boundary_mask(target, width, ignore_index)
    return {"missed": objects & ~found & (predicted == 0),
            "misnamed": objects & ~found & (predicted != 0),
            "found, band": objects & found & band,
            "found, inside": objects & found & ~band,
            "background, band": wrong & (target == 0) & band,
            "background, far": wrong & (target == 0) & ~band}
