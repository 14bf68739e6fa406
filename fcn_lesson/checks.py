"""Checkers for the chapters' coding exercises.

Each ``check_*`` takes the student's function, runs it on cases whose answers
``fcn_lesson`` knows, and prints what is right or, for the first thing that is
wrong, what to look at. It returns ``True`` only when everything holds, and
never raises for a wrong answer: an exercise cell left as ``...`` is told it
is not implemented yet, so a notebook still runs top to bottom.
"""
from __future__ import annotations

import copy
import math
import re
from typing import Callable

import torch
from torch import nn

from . import data, geometry, metrics, stats, surgery

__all__ = [
    "check_bilinear_kernel",
    "check_border_weights",
    "check_caffe_input",
    "check_boundary_mask",
    "check_confusion_matrix",
    "check_conv_flops",
    "check_convolutionalize",
    "check_crop_offset",
    "check_decoder_sides",
    "check_effective_lr",
    "check_fc6_crops",
    "check_fuse",
    "check_interpolation_offset",
    "check_layer_map",
    "check_leading_confusion",
    "check_level_state",
    "check_mean_iu",
    "check_moves",
    "check_output_size",
    "check_predict",
    "check_rarefy",
    "check_receptive_field",
    "check_seed_half_width",
    "check_shard",
    "check_transposed_conv",
    "check_vgg16_copy_test",
    "scope",
    "zipped_vgg16_copy",
]


def scope(checker: Callable) -> tuple[str, str]:
    """(what ``checker`` catches, what it cannot tell), as its docstring says: the page for instructors
    lists both, so that a grader knows what a ✓ is worth."""
    text = re.sub(r":\w+:`", "`", " ".join((checker.__doc__ or "").split()))  # a Sphinx role reads as code
    found = re.search(r"Catches: (.*?) Cannot tell: (.*)$", text)
    if not found:
        raise ValueError(f"{checker.__name__}'s docstring says neither what it catches nor what it cannot tell")
    return found.group(1), found.group(2)


class _Wrong(Exception):
    """One piece of feedback: the first thing that is wrong."""


def _run(name: str, checks: Callable[[], str]) -> bool:
    try:
        praise = checks()
    except _Wrong as wrong:
        print(f"✗ {name}: {wrong}")
        return False
    except Exception as err:  # an answer of a type the comparisons cannot handle (a tensor for a number, ...)
        print(f"✗ {name}: your answer could not be compared with the expected one ({type(err).__name__}: {err}); "
              "check the type and shape of what your function returns against the exercise")
        return False
    print(f"✓ {name}: {praise}")
    return True


def _call(fn: Callable, *args):
    """Call the student's function, turning the ways it can fail into feedback."""
    try:
        result = fn(*args)
    except NotImplementedError:
        raise _Wrong("not implemented yet: replace the `...` (or the raise) with your code") from None
    except Exception as err:  # the student's code may fail in any way; say how, not where in torch
        raise _Wrong(f"it raised {type(err).__name__}: {err}") from None
    if result is None or result is Ellipsis:
        raise _Wrong("not implemented yet: the function returns nothing; finish it and return the result")
    return result


def check_confusion_matrix(fn: Callable) -> bool:
    """``fn(pred, target, num_classes)`` must count like :func:`fcn_lesson.metrics.confusion_matrix`.

    Catches: a 255 pixel counted (named too where it breaks the reshape of a bincount), a bincount
    without ``minlength``, rows and columns swapped, counts that are not whole numbers, and a
    function right on one small case but wrong on a batch of 2 x 16 x 16 maps with 5 classes.
    Cannot tell: whether the answer is fast on full-size maps, or what it does with a prediction outside
    0..num_classes-1.
    """

    def checks() -> str:
        target = torch.tensor([[0, 0, 1], [1, 2, 255]])
        pred = torch.tensor([[0, 1, 1], [1, 0, 2]])
        expected = metrics.confusion_matrix(pred, target, 3)
        try:
            got = torch.as_tensor(_call(fn, pred, target, 3))
        except _Wrong as wrong:  # a reshape of the wrong number of counts: say which mistake made it
            found = re.search(r"invalid for input of size (\d+)", str(wrong))
            raise _Wrong(f"{wrong}{_count_hint(int(found.group(1)), 3) if found else ''}") from None
        if tuple(got.shape) != (3, 3):
            raise _Wrong(f"expected a 3 x 3 matrix for 3 classes, got shape {tuple(got.shape)}"
                         f"{_count_hint(got.numel(), 3)}")
        if got.is_floating_point() and not torch.equal(got, got.round()):
            raise _Wrong("the entries must be pixel counts (whole numbers)")
        got = got.long()
        if got.sum() == expected.sum() + 1:
            raise _Wrong("one pixel too many: pixels whose target is 255 ('ignore') must not be counted")
        if torch.equal(got, expected.T) and not torch.equal(got, expected):
            raise _Wrong("rows and columns are swapped: row i should count pixels whose *true* class is i, "
                         "column j those *predicted* as j")
        if not torch.equal(got, expected):
            raise _Wrong(f"for target {target.tolist()} and prediction {pred.tolist()} the matrix is "
                         f"{expected.tolist()}, yours is {got.tolist()}")
        big_target = torch.randint(0, 5, (2, 16, 16))
        big_pred = torch.randint(0, 5, (2, 16, 16))
        if not torch.equal(torch.as_tensor(_call(fn, big_pred, big_target, 5)).long(),
                           metrics.confusion_matrix(big_pred, big_target, 5)):
            raise _Wrong("right on the small case but wrong on a batch of 2 x 16 x 16 maps with 5 classes: "
                         "does it flatten every dimension and use num_classes?")
        return "rows are true classes, columns predictions, and 255 is ignored"

    return _run("confusion matrix", checks)


def _count_hint(size: int, num_classes: int) -> str:
    """What made ``size`` counts where a ``num_classes`` x ``num_classes`` matrix has ``num_classes**2``:
    the two likeliest mistakes of a ``torch.bincount`` answer, named (empty when ``size`` is right)."""
    cells = num_classes ** 2
    if size > cells:
        return (f": torch.bincount gave {size} counts, not {cells}, so a pair past the last one was counted: "
                f"a pixel whose target is 255 ('ignore') makes the pair 255 * {num_classes} + its prediction; "
                "keep only the pixels whose target is not 255 before counting")
    if size < cells:
        return (f": torch.bincount gave only {size} counts, not {cells}: it stops at the largest pair that "
                "occurs, so pairs that never occur at the end are missing; pass minlength=num_classes**2")
    return ""


def check_mean_iu(fn: Callable) -> bool:
    """``fn(confusion)`` must return the mean IU of a confusion matrix, skipping classes that never occur.

    Catches: the pixel accuracy, the mean accuracy, the frequency-weighted IU or the Dice coefficient
    returned instead, a union that does not subtract the intersection, a class
    absent from both target and prediction counted as 0 or 1 or left to make the mean nan (a nan IU skipped,
    as ``nanmean`` skips it, passes), and the mean taken over only the
    classes present in the target (a class predicted but never true has IU 0 and must count), over the
    predicted classes only, or over the classes with an IU above 0.
    Cannot tell: any matrix it was not given: four small cases, so an answer tuned to them would pass.
    """

    def checks() -> str:
        # every wrong answer below gives another number on this matrix (mean IU 0.25): classes 0 and 2 are
        # true once each and never right, so their IU is 0; class 0 is never predicted
        confusion = torch.tensor([[0, 0, 1], [0, 3, 0], [0, 1, 0]])
        expected = metrics.scores(confusion)["mean_iu"]
        got = float(_call(fn, confusion))
        right, true, predicted = (confusion.double().diag(), confusion.sum(1).double(),
                                  confusion.sum(0).double())
        intersection_twice = float((right / (true + predicted)).mean())  # n_ii not subtracted: 0.1429
        dice = float((2 * right / (true + predicted)).mean())  # the Dice coefficient: 0.2857
        iu = right / (true + predicted - right)
        if math.isclose(got, float(iu[iu > 0].mean()), rel_tol=1e-5):
            raise _Wrong("you left out the classes whose IU is 0: a class that occurs but is never right "
                         "has IU 0 and counts in the mean")
        if math.isclose(got, float(iu[predicted > 0].mean()), rel_tol=1e-5):
            raise _Wrong("you averaged over the predicted classes only: a class that is true but never "
                         "predicted has IU 0 and counts in the mean")
        if math.isclose(got, metrics.scores(confusion)["pixel_accuracy"], rel_tol=1e-5):
            raise _Wrong("that is the pixel accuracy (diagonal over total), not the mean IU")
        if math.isclose(got, intersection_twice, rel_tol=1e-5):
            raise _Wrong("the union counts the intersection twice: t_i + sum_j n_ji holds the n_ii right "
                         "pixels in both sums, so subtract it once: n_ii / (t_i + sum_j n_ji - n_ii)")
        if math.isclose(got, dice, rel_tol=1e-5):
            raise _Wrong("that is the Dice coefficient (F1), 2 n_ii / (t_i + sum_j n_ji), averaged: IU is "
                         "n_ii / (t_i + sum_j n_ji - n_ii), and Dice is never below it")
        if math.isclose(got, metrics.scores(confusion)["mean_accuracy"], rel_tol=1e-5):
            raise _Wrong("that is the mean accuracy: IU divides by the union t_i + sum_j n_ji - n_ii, "
                         "not by t_i alone")
        if math.isclose(got, metrics.scores(confusion)["fw_iu"], rel_tol=1e-5):
            raise _Wrong("that is the frequency-weighted IU: it weighs each class's IU by its pixels t_i, "
                         "the mean IU weighs every class the same")
        if not math.isclose(got, expected, rel_tol=1e-6):
            raise _Wrong(f"for {confusion.tolist()} the mean IU is {expected:.4f}, yours is {got:.4f}")
        absent = torch.tensor([[3, 0, 0], [0, 1, 0], [0, 0, 0]])
        got_absent = float(_call(fn, absent))
        if math.isnan(got_absent):
            raise _Wrong("a class that never occurs (0 / 0) makes your mean nan: leave such classes out")
        if not math.isclose(got_absent, 1.0):
            raise _Wrong(f"with class 2 absent from both target and prediction, {absent.tolist()} is perfect: "
                         f"mean IU 1.0, yours is {got_absent:.4f} (absent classes must not count as 0)")
        imperfect = torch.tensor([[2, 1, 0], [0, 1, 0], [0, 0, 0]])  # IU 2/3 and 1/2; class 2 absent
        expected = metrics.scores(imperfect)["mean_iu"]  # (2/3 + 1/2) / 2 = 0.5833
        got = float(_call(fn, imperfect))
        if math.isclose(got, (2 / 3 + 1 / 2 + 1) / 3, rel_tol=1e-6):
            raise _Wrong(f"in {imperfect.tolist()} class 2 never occurs and you score it IU 1 (0 / 0 taken as "
                         f"perfect): its IU is undefined, so leave it out of the mean: {expected:.4f}, "
                         f"not {got:.4f}")
        if not math.isclose(got, expected, rel_tol=1e-6):
            raise _Wrong(f"for {imperfect.tolist()} the mean IU is {expected:.4f}, yours is {got:.4f}")
        predicted_only = torch.tensor([[3, 1], [0, 0]])
        expected = metrics.scores(predicted_only)["mean_iu"]
        got = float(_call(fn, predicted_only))
        if math.isclose(got, 0.75):
            raise _Wrong(f"in {predicted_only.tolist()} class 1 is never true but predicted once: its IU is "
                         f"0 / 1 = 0 and the mean IU {expected:.4f}; yours is 0.7500, as if only the classes "
                         "present in the target (t_i > 0) counted: keep every class whose union is not empty")
        if not math.isclose(got, expected, rel_tol=1e-6):
            raise _Wrong(f"for {predicted_only.tolist()} the mean IU is {expected:.4f}, yours is {got:.4f}")
        return "IU per class over the union, averaged over the classes that occur"

    return _run("mean IU", checks)


def _leading_confusion(confusion: torch.Tensor) -> tuple[int, int, int]:
    """The pair of classes confused most often, either way round, as ``(a, b, count)`` with ``a < b``."""
    wrong = metrics.mistakes(confusion)
    both_ways = torch.triu(wrong + wrong.T, diagonal=1)
    index = int(both_ways.argmax())
    a, b = divmod(index, confusion.shape[0])
    return a, b, int(both_ways[a, b])


def check_leading_confusion(fn: Callable) -> bool:
    """``fn(confusion)``: the two classes a classifier confuses most often, counted both ways round
    (true a predicted b, and true b predicted a), as ``(a, b, count)`` with ``a < b``.

    Catches: one direction only (the largest wrong cell instead of a cell plus its mirror), the
    diagonal (the right answers) counted, and a pair given as (larger, smaller).
    Cannot tell: how ties are broken, which its four matrices do not have.
    """

    def checks() -> str:
        generator = torch.Generator().manual_seed(0)
        cases = [torch.tensor([[50, 5, 0], [0, 40, 4], [0, 4, 30]]),
                 torch.tensor([[20, 1, 3, 0], [2, 20, 0, 6], [3, 0, 20, 1], [0, 0, 7, 20]]),
                 torch.randint(0, 9, (6, 6), generator=generator) + 40 * torch.eye(6, dtype=torch.long),
                 torch.randint(0, 30, (5, 5), generator=generator)]
        for confusion in cases:
            expected = _leading_confusion(confusion)
            got = tuple(int(value) for value in _call(fn, confusion.clone()))
            if got == expected:
                continue
            if len(got) != 3:
                raise _Wrong(f"return three numbers, (a, b, count), not {len(got)}")
            if got[0] == got[1]:
                raise _Wrong(f"for {confusion.tolist()} you name class {got[0]} confused with itself: "
                             "the diagonal counts the right answers; leave it out")
            if got[2] == int(metrics.mistakes(confusion).max()) and got[2] != expected[2]:
                raise _Wrong(f"for {confusion.tolist()} you give {got}, the largest wrong cell alone; "
                             f"count both directions (row a, column b plus row b, column a): {expected}")
            if got == (expected[1], expected[0], expected[2]):
                raise _Wrong(f"for {confusion.tolist()} give the smaller class first: {expected}")
            raise _Wrong(f"for {confusion.tolist()} expected {expected}, got {got}")
        return "each wrong cell plus its mirror, the diagonal left out, the pair in order"

    return _run("leading confusion", checks)


def check_output_size(fn: Callable) -> bool:
    """``fn(size, kernel, stride, padding, ceil_mode)``: the output side of a convolution or pooling layer.

    Catches: rounding down where ceil_mode rounds up, the padding left out, and PyTorch's rule
    that drops a last ceil-mode window starting in the right-hand padding.
    Cannot tell: dilation (the exercise has none), and any case beyond its eight.
    """

    def checks() -> str:
        cases = [(224, 3, 1, 1, False), (224, 2, 2, 0, False), (7, 2, 2, 0, True), (7, 2, 2, 0, False),
                 (422, 3, 1, 100, False), (13, 3, 2, 1, True), (5, 2, 2, 1, True),
                 (6, 2, 2, 1, True)]
        for size, kernel, stride, padding, ceil_mode in cases:
            layer = (nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode) if ceil_mode
                     else nn.Conv2d(1, 1, kernel, stride, padding))
            expected = geometry.output_size([layer], size)
            got = _call(fn, size, kernel, stride, padding, ceil_mode)
            if got != expected:
                hint = ""
                if ceil_mode and got == expected - 1:
                    hint = (" With ceil_mode the last, partial window counts too: round the division up,"
                            " and drop that window only if it starts in the right-hand padding.")
                elif ceil_mode and got == expected + 1:
                    hint = (" With ceil_mode, a last window that starts in the right-hand padding is"
                            " dropped: it would see no input pixel.")
                elif not ceil_mode and got == expected + 1:
                    hint = " Without ceil_mode, a window that does not fit is dropped: round down."
                elif got == expected + 2 * padding or got == expected - 2 * padding:
                    hint = " Is the padding added on both sides, before the kernel slides?"
                raise _Wrong(f"size {size}, kernel {kernel}, stride {stride}, padding {padding}, "
                             f"ceil_mode {ceil_mode}: expected {expected}, got {got}.{hint}")
        return "floor((n + 2p - k) / s) + 1, or rounded up with ceil_mode"

    return _run("output size", checks)


def check_receptive_field(fn: Callable) -> bool:
    """``fn(layers)``: the receptive field (in input pixels) of one output pixel of a stack of layers.

    Catches: a kernel's taps not multiplied by the strides before it, on four stacks up to VGG16's pool5
    (212 pixels).
    Cannot tell: dilated or transposed layers, which the exercise does not ask for.
    """

    def checks() -> str:
        stacks = {
            "one 3x3 convolution": [nn.Conv2d(1, 1, 3)],
            "two 3x3 convolutions": [nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)],
            "3x3 conv, 2x2 pool, 3x3 conv": [nn.Conv2d(1, 1, 3), nn.MaxPool2d(2, 2), nn.Conv2d(1, 1, 3)],
            "VGG16's convolutions up to pool5": [m for m in _vgg16_features() if not isinstance(m, nn.ReLU)],
        }
        for name, layers in stacks.items():
            expected = geometry.receptive_field(layers)
            got = _call(fn, layers)
            if got != expected:
                hint = ""
                if name.startswith("3x3 conv, 2x2") and got == 5 + 1:
                    hint = (" After a stride-2 layer, each further kernel tap moves 2 input pixels: "
                            "multiply (k - 1) by the product of the strides before the layer.")
                raise _Wrong(f"{name}: expected {expected} pixels, got {got}.{hint}")
        return "r grows by (k - 1) times the product of the earlier strides"

    return _run("receptive field", checks)


def _vgg16_features() -> list[nn.Module]:
    from torchvision.models import vgg16

    with torch.device("meta"):  # only the layer settings matter: no weights are made
        return list(vgg16(weights=None).features)


def check_convolutionalize(fn: Callable) -> bool:
    """``fn(linear, in_channels, kernel_size)`` must return a Conv2d that computes what ``linear`` does.

    Catches: a layer that is not a Conv2d, a wrong weight shape, a forgotten bias, and weights reordered
    channel-last instead of as nn.Flatten orders them.
    Cannot tell: inputs larger than the kernel: it compares 4 x 3 x 3 maps, where the convolution gives
    one value per class.
    """

    def checks() -> str:
        torch.manual_seed(0)
        linear = nn.Linear(4 * 3 * 3, 5)
        conv = _call(fn, linear, 4, 3)
        if not isinstance(conv, nn.Conv2d):
            raise _Wrong(f"return an nn.Conv2d, got {type(conv).__name__}")
        if conv.weight.shape != (5, 4, 3, 3):
            raise _Wrong(f"a Linear(36 -> 5) over a 4 x 3 x 3 map is a Conv2d with weight (5, 4, 3, 3); "
                         f"yours has {tuple(conv.weight.shape)}")
        x = torch.randn(2, 4, 3, 3)
        with torch.no_grad():
            expected, got = linear(x.flatten(1)), conv(x)[:, :, 0, 0]
            if conv.bias is None or not torch.allclose(conv.bias, linear.bias):
                raise _Wrong("copy the bias too: the convolution must add what the Linear adds")
            if not torch.allclose(got, expected, atol=1e-6):
                transposed = linear.weight.reshape(5, 3, 3, 4).permute(0, 3, 1, 2)
                if torch.allclose(conv.weight, transposed):
                    raise _Wrong("the weights are reordered wrongly: nn.Flatten orders a map channel first "
                                 "(C, then rows, then columns), so a plain reshape to (out, C, k, k) is right")
                raise _Wrong("on a 4 x 3 x 3 input the convolution does not give the Linear layer's output")
        return "a reshape of the weights, and the bias as it is"

    return _run("convolutionalize", checks)


def _copy_vgg16_fc(classifier: nn.Module, vgg16: nn.Module) -> None:
    """fc6, fc7 and fc8 of torchvision's VGG16 (``classifier[0]``, ``[3]``, ``[6]``) into a VGGClassifier's."""
    for index, name in ((0, "fc6"), (3, "fc7"), (6, "fc8")):
        source, target = vgg16.classifier[index], getattr(classifier.classifier, name)
        target.weight.copy_(source.weight)
        target.bias.copy_(source.bias)


def zipped_vgg16_copy(classifier: nn.Module, vgg16: nn.Module) -> nn.Module:
    """Copy torchvision's VGG16 into ``models.VGGClassifier(1000, backbone="vgg16")`` by zipping
    ``vgg16.features``, a flat list of 31 layers, against ``classifier.features`` and copying where both
    sides are convolutions, the loop that works between two flat lists (wkentaro/pytorch-fcn's
    ``copy_params_from_vgg16``). The book's ``features`` holds five ``nn.Sequential`` blocks, so no pair is
    two convolutions and no convolution is copied, without any error; fc6, fc7 and fc8 are copied right
    (chapter 3's exercise)."""
    with torch.no_grad():
        for source, target in zip(vgg16.features, classifier.features):
            if isinstance(source, nn.Conv2d) and isinstance(target, nn.Conv2d):
                target.weight.copy_(source.weight)
                target.bias.copy_(source.bias)
        _copy_vgg16_fc(classifier, vgg16)
    return classifier


def _walked_vgg16_copy(classifier: nn.Module, vgg16: nn.Module) -> nn.Module:
    """The right copy: the 13 convolutions found by walking every module, in network order, then fc6-fc8."""
    sources = [m for m in vgg16.features.modules() if isinstance(m, nn.Conv2d)]
    targets = [m for m in classifier.features.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for source, target in zip(sources, targets, strict=True):
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
        _copy_vgg16_fc(classifier, vgg16)
    return classifier


def check_vgg16_copy_test(test: Callable) -> bool:
    """``test(copy)`` must build a torchvision ``vgg16(weights=None)`` and a
    ``VGGClassifier(1000, backbone="vgg16")``, apply ``copy(classifier, vgg)``, and return True only if all
    13 convolutions were copied: True for a copy that walks every module, False for :func:`zipped_vgg16_copy`.

    Catches: a test that rejects a full copy, a test that looks only at fc6-fc8, and a test that zips the
    two lists of layers itself (it finds no pair of convolutions to compare, and ``all([])`` is True).
    Cannot tell: other silent failures (a copy of only some convolutions, or of biases but not weights).
    """

    def checks() -> str:
        if _call(test, _walked_vgg16_copy) is not True:
            raise _Wrong("your test rejects a copy that walks every module and copies all 13 convolutions and "
                         "fc6-fc8: compare each convolution's weights after the copy, and return True when all "
                         "13 are equal")
        if _call(test, zipped_vgg16_copy) is not False:
            raise _Wrong("your test passes checks.zipped_vgg16_copy, which copies no convolution: fc6-fc8 are "
                         "right, so look at the convolutions, all 13 of them, found with model.modules() (zipping "
                         "the two lists finds no pair, and all() of nothing is True)")
        return "it accepts a full copy and catches the one that silently copies no convolution"

    return _run("VGG16 copy test", checks)


def check_bilinear_kernel(fn: Callable) -> bool:
    """``fn(size)`` must return the size x size bilinear kernel of :func:`surgery.bilinear_kernel`.

    Catches: a wrong shape, a kernel normalised to sum to 1, and an odd size centred where the even sizes
    are (factor - 0.5 instead of the middle tap), for sizes 3, 4, 5 and 16.
    Cannot tell: how the kernel is then placed into a ConvTranspose2d (chapter 4 does that in the open).
    """

    def checks() -> str:
        for size in (4, 3, 16, 5):
            expected = surgery.bilinear_kernel(size)
            got = torch.as_tensor(_call(fn, size), dtype=torch.float32)
            if tuple(got.shape) != (size, size):
                raise _Wrong(f"size {size}: expected a {size} x {size} kernel, got shape {tuple(got.shape)}")
            if not torch.allclose(got, expected, atol=1e-6):
                hint = ""
                if torch.allclose(got / got.sum(), expected / expected.sum(), atol=1e-6):
                    hint = (" The shape is right but not the scale: the centre taps should be close to 1, "
                            "not sum to 1 (each output gets about a factor^2-th of each of its inputs).")
                elif size % 2 == 1 and torch.allclose(got, _even_centred(size), atol=1e-6):
                    hint = " For an odd size the centre is the middle tap, (size - 1) / 2."
                raise _Wrong(f"size {size}: expected {expected.numpy().round(4).tolist()[0]} in the first row, "
                             f"got {got.numpy().round(4).tolist()[0]}.{hint}")
        return "a tent of half-width ceil(size / 2) around (size - 1) / 2, in both directions"

    return _run("bilinear kernel", checks)


def _even_centred(size: int) -> torch.Tensor:
    """The kernel an odd ``size`` gets from the even sizes' centre, factor - 0.5: the usual slip."""
    factor = (size + 1) // 2
    tent = 1 - (torch.arange(size) - (factor - 0.5)).abs() / factor
    return tent[:, None] * tent[None, :]


def check_transposed_conv(fn: Callable) -> bool:
    """``fn(x, weight, stride)`` for one-channel 2-D tensors must equal ``conv_transpose2d`` (no padding).

    Catches: a wrong output size and a flipped kernel, against conv_transpose2d on four input, kernel and
    stride cases.
    Cannot tell: padding, several channels or batches: the exercise is one channel, no padding.
    """

    def checks() -> str:
        torch.manual_seed(0)
        for shape, k, stride in (((3, 3), 3, 1), ((3, 4), 4, 2), ((2, 2), 3, 2), ((4, 3), 2, 3)):
            x, weight = torch.randn(shape), torch.randn(k, k)
            expected = torch.nn.functional.conv_transpose2d(x[None, None], weight[None, None], stride=stride)[0, 0]
            got = torch.as_tensor(_call(fn, x, weight, stride))
            if got.shape != expected.shape:
                raise _Wrong(f"input {tuple(shape)}, kernel {k}, stride {stride}: the output is "
                             f"(n - 1) * stride + k per side = {tuple(expected.shape)}, got {tuple(got.shape)}")
            if not torch.allclose(got, expected, atol=1e-5):
                flipped = torch.nn.functional.conv_transpose2d(x[None, None], weight.flip(0, 1)[None, None],
                                                               stride=stride)[0, 0]
                hint = (" This is conv_transpose2d with the kernel flipped. Written as a scatter, the kernel must"
                        " not be flipped: input (i, j) adds x[i, j] * weight at (stride*i, stride*j). Written as"
                        " a gather with F.conv2d, which does not flip, pass it weight.flip(0, 1).") \
                    if torch.allclose(got, flipped, atol=1e-5) else ""
                raise _Wrong(f"input {tuple(shape)}, kernel {k}, stride {stride}: values differ from "
                             f"conv_transpose2d.{hint}")
        return "each input pixel scatters its value times the kernel, stride pixels apart, and overlaps add"

    return _run("transposed convolution", checks)


def check_border_weights(fn: Callable) -> bool:
    """``fn(factor)``: the weights that the first ``factor / 2`` pixels of a middle output row get from a
    constant input, through the bilinear upsampler (kernel 2 * factor, stride factor, padding factor / 2).

    Catches: a band of the wrong width, the padding left out (the uncropped map's first pixels), the tent
    centred on a tap (at factor instead of (2 * factor - 1) / 2) and the edge row's values (both directions
    short) instead of a middle row's, for the factors 2, 4, 8 and 32.
    Cannot tell: whether the weights were derived or read off a transposed convolution of ones.
    """

    def checks() -> str:
        for factor in (2, 4, 8, 32):
            upsampler = surgery.bilinear_upsampler(1, factor, padding=factor // 2)
            with torch.no_grad():
                ones = upsampler(torch.ones(1, 1, 4, 4))[0, 0]
            expected = ones[2 * factor, :factor // 2]  # a middle row: full weight down the columns
            got = torch.as_tensor(_call(fn, factor), dtype=torch.float32).flatten()
            if got.numel() != expected.numel():
                raise _Wrong(f"factor {factor}: the band is factor / 2 = {factor // 2} pixel(s) wide (only the "
                             f"first input's tent reaches them), got {got.numel()} values")
            if torch.allclose(got, expected, atol=1e-6):
                continue
            j = torch.arange(factor // 2)
            hints = (((2 * j + 1) / (2 * factor), " These are the first pixels of the uncropped map: the padding "
                      "cuts factor / 2 pixels off, so output pixel j is pixel j + factor / 2 of the stamp."),
                     ((2 * j + factor) / (2 * factor), " The tent is centred on a tap: with 2 * factor taps its "
                      "centre is (2 * factor - 1) / 2, between two taps."),
                     (expected[0] * expected, " These are the edge row's weights, short in both directions: in a "
                      "middle row the other direction gets full weight."))
            hint = next((text for wrong, text in hints if torch.allclose(got, wrong, atol=1e-6)), "")
            first = ", ".join(f"{v:.4f}" for v in expected[:3].tolist())
            yours = ", ".join(f"{v:.4f}" for v in got[:3].tolist())
            raise _Wrong(f"factor {factor}: expected {first} for the first pixels, got {yours}.{hint}")
        return "only the first input's tent reaches the band: weight (2j + factor + 1) / (2 * factor) at pixel j"

    return _run("border weights", checks)


def check_layer_map(fn: Callable) -> bool:
    """``fn(kernel, stride, padding, transposed)`` -> (scale, offset): output pixel i sits at scale * i + offset.

    Catches: a transposed convolution's scale given as the stride instead of its inverse, and a window's
    offset that forgets its centre, on eight layers including the 64/32 upsampler.
    Cannot tell: how the maps compose through a whole network: chapter 5's cells and `geometry` do that.
    """

    def checks() -> str:
        cases = [(3, 1, 1, False), (3, 1, 100, False), (2, 2, 0, False), (7, 1, 0, False), (5, 2, 1, False),
                 (4, 2, 0, True), (64, 32, 0, True), (16, 8, 4, True)]
        for kernel, stride, padding, transposed in cases:
            layer = (nn.ConvTranspose2d(1, 1, kernel, stride, padding) if transposed
                     else nn.Conv2d(1, 1, kernel, stride, padding))
            expected = geometry.layer_map(layer)
            got = _call(fn, kernel, stride, padding, transposed)
            try:
                scale, offset = (float(v) for v in got)
            except (TypeError, ValueError):
                raise _Wrong(f"return a pair (scale, offset), got {got!r}") from None
            if not (math.isclose(scale, expected.scale) and math.isclose(offset, expected.offset)):
                kind = "transposed convolution" if transposed else "convolution"
                hint = ""
                if transposed and math.isclose(scale, stride):
                    hint = " A transposed convolution upsamples: one output step is 1 / stride input steps."
                elif not transposed and math.isclose(offset, -padding):
                    hint = " The window's centre is (k - 1) / 2 pixels in from its first pixel."
                raise _Wrong(f"{kind} k={kernel}, s={stride}, p={padding}: expected "
                             f"({float(expected.scale):g}, {float(expected.offset):g}), got ({scale:g}, {offset:g}).{hint}")
        return "scale s and offset (k - 1) / 2 - p, or their inverse for a transposed convolution"

    return _run("coordinate map", checks)


def check_fc6_crops(fn: Callable) -> bool:
    """``fn(kernel)``: the crops (pool4, pool3, final) of VGG16's FCN-8s (padding 100) with a ``kernel`` x
    ``kernel`` fc6, predicted from the coordinate maps; compared with what ``fcn_lesson`` derives for the
    kernels 3 to 8.

    Catches: skip crops kept as if fc6 moved every map like the padding does, a shift with its sign reversed,
    and a shift left in input pixels instead of each skip map's (not divided by 16 and 8).
    Cannot tell: kernels for which no crop fits (below 3 or above 8, with this padding).
    """
    from dataclasses import replace

    from .models import VGG16, FCN8s

    def checks() -> str:
        layout = replace(VGG16, widths=(1,) * 5, fc_width=1)  # widths do not move pixels
        for kernel in (7, 5, 3, 4, 6, 8):
            expected = FCN8s(2, backbone=replace(layout, fc6_kernel=kernel)).crops
            got = _call(fn, kernel)
            if tuple(got) != expected:
                shift = 16 * (kernel - 7)  # input pixels the score path moves against k = 7
                hint = ""
                if tuple(got)[:2] == (5, 9):
                    hint = (" The skip crops should change too: fc6's kernel moves only the score path, so the "
                            "difference between it and pool4 or pool3 changes.")
                elif tuple(got) == (5 - shift // 16, 9 - shift // 8, 31 + shift):
                    hint = " The sign is reversed: a smaller kernel puts fc6's outputs earlier, not later."
                elif tuple(got) == (5 + shift, 9 + shift, 31 - shift):
                    hint = " Count each skip crop in its own map's pixels: divide the shift by 16 and by 8."
                raise _Wrong(f"fc6 kernel {kernel}: expected the crops {expected}, got {tuple(got)}.{hint}")
        return "the crops for fc6 kernels 3 to 8, from where fc6 puts its outputs on pool5"

    return _run("fc6 crops", checks)


def check_crop_offset(fn: Callable) -> bool:
    """``fn(source, target)`` for two (scale, offset) pairs: the crop that puts source on target.

    Catches: a crop with its sign reversed and a shift left in input pixels instead of the cropped map's, on
    the crops 19, 5, 9 and 31; a crop returned (rounded) for maps no crop aligns, half a pixel apart or
    with the source starting inside the target, where the answer must raise a ValueError instead (an
    ``assert``, whose AssertionError vanishes under ``python -O``, is refused).
    Cannot tell: pairs of maps with different scales, which never need cropping in FCN.
    """

    def checks() -> str:
        cases = [((1, -19), (1, 0)), ((16, -91.5), (16, -11.5)), ((8, -95.5), (8, -23.5)), ((1, -31), (1, 0))]
        for source, target in cases:
            expected = geometry.crop_offset(geometry.CoordMap(*map(_fraction, source)),
                                            geometry.CoordMap(*map(_fraction, target)))
            got = _call(fn, source, target)
            if got != expected:
                hint = ""
                if got == -expected:
                    hint = " The sign is reversed: the crop is how far the *source* map starts before the target."
                elif source[0] != 1 and got == expected * source[0]:
                    hint = " Count the shift in pixels of the map being cropped: divide by its scale."
                raise _Wrong(f"source {source}, target {target}: expected a crop of {expected}, got {got}.{hint}")
        refused = [((8, -95.5), (8, -91.5), "half a pixel apart"), ((1, 0), (1, -19), "the source starts 19 "
                   "pixels inside the target")]
        for source, target, why in refused:
            try:
                got = fn(source, target)
            except NotImplementedError:
                raise _Wrong("not implemented yet: replace the `...` (or the raise) with your code") from None
            except ValueError:  # refused, as it must be
                continue
            except Exception as err:
                raise _Wrong(f"source {source}, target {target}: {why}; your function refused it with "
                             f"{type(err).__name__}, but the exercise asks for a ValueError (an assert "
                             "disappears under python -O): raise ValueError(...)") from None
            raise _Wrong(f"source {source}, target {target}: {why}, so no crop aligns them, but your function "
                         f"returned {got}. Raise an error (a ValueError) when the shift is not a whole, "
                         "non-negative number of pixels.")
        return "the shift between the two maps, in pixels of the map being cropped; maps no crop aligns refused"

    return _run("crop offset", checks)


def _fraction(value):
    from fractions import Fraction

    return Fraction(value).limit_denominator(1000)


def _scored_fcn(num_classes: int = 3):
    """A small FCN-32s whose score layer is random (a fresh one scores every pixel 0) and in training mode."""
    from .models import MINI, FCN32s

    torch.manual_seed(0)
    model = FCN32s(num_classes, backbone=MINI)
    nn.init.normal_(model.score_fr.weight, std=0.5)
    for module in model.modules():  # running statistics unlike a batch's, as after training
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 2)
            module.running_var.uniform_(0.1, 0.3)
    return model.train()


def check_predict(fn: Callable) -> bool:
    """``fn(model, image)`` for one normalised 3 x H x W image must return its H x W map of class indices.

    Catches: a model left in training mode, the batch or class dimension left in, scores returned
    instead of class indices, a forward pass run with gradients on (no torch.no_grad() or
    torch.inference_mode(): a hook on the model records torch.is_grad_enabled()).
    Cannot tell: its speed, or inputs other than one normalised 3 x H x W image (a batch, an image
    in 0..255).
    """

    def checks() -> str:
        model, image = _scored_fcn(), torch.randn(3, 37, 45)
        with torch.no_grad():  # on copies: a forward pass in training mode updates batch-norm statistics
            expected = copy.deepcopy(model).eval()(image[None]).argmax(1)[0]
            in_training = copy.deepcopy(model)(image[None]).argmax(1)[0]
        grad_on = []  # torch.is_grad_enabled() at each forward pass of the model
        model.register_forward_pre_hook(lambda module, args: grad_on.append(torch.is_grad_enabled()))
        got = _call(fn, model, image)
        if not isinstance(got, torch.Tensor):
            raise _Wrong(f"return a tensor of class indices, got {type(got).__name__}")
        if got.shape == (1, 37, 45):
            raise _Wrong("the result still has the batch dimension: index [0] (or squeeze(0)) after argmax")
        if got.dim() == 3 and got.shape[0] == 3:
            raise _Wrong(f"shape {tuple(got.shape)} holds one score map per class: take argmax over the class "
                         "dimension to get the class of every pixel")
        if tuple(got.shape) != (37, 45):
            raise _Wrong(f"a 37 x 45 image needs a 37 x 45 map of classes, got shape {tuple(got.shape)}")
        if got.is_floating_point():
            raise _Wrong("return class indices (integers), as argmax gives them, not scores")
        if not torch.equal(got.cpu(), expected):
            if torch.equal(got.cpu(), in_training):
                raise _Wrong("the model was left in training mode: call model.eval() first, or batch norm uses "
                             "this one image's statistics instead of the learned ones")
            raise _Wrong("the classes differ from the model's: add a batch dimension (image[None]), run the "
                         "model, and take argmax over dimension 1")
        if any(grad_on):
            raise _Wrong("the model ran with gradients on: run it under torch.no_grad(), or autograd keeps "
                         "every layer's activations for a backward pass that never comes")
        return "eval mode, no gradients, a batch of one in, the argmax over classes out"

    return _run("predict", checks)


def check_fuse(fn: Callable) -> bool:
    """``fn(coarse, skip, offset)``: crop the skip scores at ``offset`` to the coarse map's size and add.

    Catches: concatenating instead of summing, a crop taken at 0 or from the far end, and a wrong output
    shape, on three map sizes and offsets.
    Cannot tell: whether the offset given is the right one: the fusion is checked, the alignment is chapter
    5's.
    """

    def checks() -> str:
        torch.manual_seed(0)
        for (h, w), (sh, sw), offset in (((4, 5), (10, 11), 5), ((6, 6), (20, 20), 9), ((3, 7), (3, 7), 0)):
            coarse, skip = torch.randn(2, 3, h, w), torch.randn(2, 3, sh, sw)
            expected = coarse + skip[:, :, offset:offset + h, offset:offset + w]
            got = _call(fn, coarse, skip, offset)
            if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                hint = (" Concatenating doubles the channels: FCN fuses by summing." if isinstance(got, torch.Tensor)
                        and got.dim() == 4 and got.shape[1] == 6 else " Crop the skip scores to the coarse map's size.")
                raise _Wrong(f"coarse {tuple(coarse.shape)} and skip {tuple(skip.shape)} fuse to "
                             f"{tuple(expected.shape)}, got {shape}.{hint}")
            if not torch.allclose(got, expected):
                if offset and torch.allclose(got, coarse + skip[:, :, :h, :w]):
                    raise _Wrong(f"the crop starts at 0: start it at the offset ({offset}) in both directions")
                if torch.allclose(got, coarse + skip[:, :, sh - h:, sw - w:]):
                    raise _Wrong("the crop is taken from the end: start it at the offset, from the top left")
                raise _Wrong(f"values differ for offset {offset}: skip[:, :, o:o + H, o:o + W] + coarse")
        return "crop at the derived offset, then sum"

    return _run("fuse", checks)


def check_boundary_mask(fn: Callable) -> bool:
    """``fn(target, width)`` must mark the pixels within ``width`` of a class change, like ``metrics.boundary_mask``.

    Catches: 255 pixels in the band, a band one pixel too narrow or too wide, for widths 0, 1 and 2, and a band
    that marks only the edges between objects and background (two touching objects of different classes).
    Cannot tell: label maps with many objects, or objects that overlap diagonally (two label maps are tried:
    one rectangle on background, and two rectangles side by side).
    """

    def checks() -> str:
        alone = torch.zeros(12, 12, dtype=torch.long)
        alone[3:9, 4:10] = 2
        alone[3, 4:10] = 255  # a VOC-style ignored border along one side
        touching = torch.zeros(12, 12, dtype=torch.long)
        touching[2:8, 2:6], touching[2:8, 6:10] = 1, 3  # a disc's pixels against a ring's
        for target in (alone, touching):
            for width in (0, 1, 2):
                expected = metrics.boundary_mask(target, width)
                got = torch.as_tensor(_call(fn, target, width))
                if got.shape != expected.shape:
                    raise _Wrong(f"a {tuple(target.shape)} label map needs a mask of the same shape, "
                                 f"got {tuple(got.shape)}")
                got = got.bool()
                if torch.equal(got, expected):
                    continue
                if torch.equal(got & (target != 255), expected):
                    raise _Wrong("pixels labelled 255 are in your band: they are never scored, leave them out")
                objects = torch.where(target == 255, target, (target > 0).long())
                if target is touching and torch.equal(got, metrics.boundary_mask(objects, width)):
                    raise _Wrong("two touching objects of different classes need a band between them too: "
                                 "compare the labels themselves, not object against background")
                for other in (width - 1, width + 1):
                    if other >= 0 and torch.equal(got, metrics.boundary_mask(target, other)):
                        raise _Wrong(f"width {width} gave the band of width {other}: a pixel is in the band when "
                                     f"a class change lies within {width} pixels of it, on either side")
                raise _Wrong(f"width {width}: {int((got != expected).sum())} pixels differ from the expected band "
                             "(pixels next to a label change, on both sides, grown by width in every direction)")
        return "both sides of every class change, grown by width, ignored pixels left out"

    return _run("boundary mask", checks)


def check_effective_lr(fn: Callable) -> bool:
    """``fn(lr, momentum, pixels)``: the mean-loss learning rate that takes the paper's steps in the long run.

    Catches: momentum or the pixel count left out, the momentum series summed from m instead of 1
    (m / (1 - m)), and an answer that knows only 0.99 and 0.9 (a third momentum, 0.95), on four cases.
    Cannot tell: whether the equivalence holds during the first steps, before momentum has built up (it is a
    long-run rule).
    """

    def checks() -> str:
        for lr, momentum, pixels in ((1e-10, 0.99, 500 * 375), (1e-12, 0.99, 500 * 500), (1e-3, 0.9, 1),
                                     (1e-6, 0.95, 1000)):
            expected = lr * pixels / (1 - momentum)
            got = float(_call(fn, lr, momentum, pixels))
            if math.isclose(got, expected, rel_tol=1e-6):
                continue
            if math.isclose(got, lr * pixels, rel_tol=1e-6):
                raise _Wrong("momentum is missing: with momentum m a steady gradient moves the weights "
                             "1 / (1 - m) times the plain step")
            if math.isclose(got, lr / (1 - momentum), rel_tol=1e-6):
                raise _Wrong("the pixels are missing: a summed loss is the mean loss times the number of pixels")
            if math.isclose(got, lr * pixels * momentum / (1 - momentum), rel_tol=1e-6):
                raise _Wrong("the series m + m^2 + ... leaves out the newest gradient: a step adds it in full "
                             "(m^0 = 1) to m times the last step, so the series is 1 + m + m^2 + ...")
            raise _Wrong(f"lr {lr:g}, momentum {momentum}, {pixels} pixels: expected {expected:.3g}, got {got:.3g}")
        return "lr x pixels / (1 - momentum): FCN-32s's 1e-10 is a mean-loss step of about 2e-3"

    return _run("effective learning rate", checks)


def check_seed_half_width(fn: Callable) -> bool:
    """``fn(k, scene_part, seed_variance)``: the 95 % half-width of a paired difference's mean over
    ``k`` seeds, with the scenes' part of its variance held and the per-seed differences' variance given.

    Catches: 1.96 in place of t, t at k degrees of freedom instead of k - 1, a one-sided quantile, the
    scenes' part dropped or divided by k, the seeds' variance not divided by k, the square root left out, standard errors
    added instead of variances, and an answer that reads the notebook's seeds instead of its arguments,
    on four cases.
    Cannot tell: whether the parts passed in are the right ones (the first four seeds' scenes' part and
    spread): the worked answer prints the half-width at four seeds, 0.037, to compare with.
    """

    def checks() -> str:
        for k, scene_part, seed_variance in ((4, 1e-4, 4e-4), (2, 5e-5, 1e-3), (10, 2e-4, 1e-4),
                                             (30, 1e-4, 9e-4)):
            t = stats.t_quantile(0.975, k - 1)
            error = math.sqrt(scene_part + seed_variance / k)  # the standard error of the mean over k seeds
            expected = t * error
            got = float(_call(fn, k, scene_part, seed_variance))
            if math.isclose(got, expected, rel_tol=1e-4):
                continue
            slips = {
                "1.96 is the normal's quantile, right only when the spread is known: estimated from k seeds, "
                "use Student's t with k - 1 degrees of freedom": 1.96 * error,
                "t has k - 1 degrees of freedom, not k: the seeds' variance is estimated around their own mean":
                    stats.t_quantile(0.975, k) * error,
                "a 95 % interval leaves 2.5 % out on each side: take t's 0.975 quantile, not its 0.95":
                    stats.t_quantile(0.95, k - 1) * error,
                "the scenes' part is missing: every seed is scored on the same scenes, so their draw moves the "
                "mean over seeds too": t * math.sqrt(seed_variance / k),
                "divide the seeds' variance by k: it is the variance of one seed's difference, and the mean "
                "over k seeds varies k times less": t * math.sqrt(scene_part + seed_variance),
                "keep the scenes' part whole: every seed is scored on the same scenes, so their draw does not "
                "average away over seeds; only the seeds' variance is divided by k":
                    t * math.sqrt((scene_part + seed_variance) / k),
                "take the square root: the two parts are variances, the half-width is t standard errors":
                    t * error ** 2,
                "add the variances, then take the root: standard errors of independent parts do not add":
                    t * (math.sqrt(scene_part) + math.sqrt(seed_variance / k)),
            }
            for hint, slip in slips.items():
                if math.isclose(got, slip, rel_tol=1e-4):
                    raise _Wrong(hint)
            raise _Wrong(f"k = {k}, scene_part {scene_part:g}, seed_variance {seed_variance:g}: expected "
                         f"{expected:.4f}, got {got:.4f} (use the arguments, not the notebook's seeds)")
        return "t(0.975, k - 1) x sqrt(scene part + seed variance / k): t falls fast, the seeds' part as 1 / k"

    return _run("half-width over seeds", checks)


def check_level_state(fn: Callable) -> bool:
    """``fn(low, high, yardstick)``: what one levelling step says, from its gain's 95 % interval
    (``low`` to ``high``) and a yardstick (a half-width): "levelled" when the whole interval lies under
    the yardstick, "still rising" when it lies wholly above, else "too close to call".

    Catches: an answer in other words than those three; the point gain (the interval's middle) judged
    instead of the interval, also with a margin around the yardstick; one end of the interval judged
    alone; the interval set against zero instead of the yardstick; "levelled" and "still rising"
    swapped; and an interval that holds the yardstick called levelled or rising (one that holds zero as
    well among them), on seven cases.
    Cannot tell: ``<`` from ``<=`` at the yardstick (no case has an interval end exactly on it).
    """
    cases = {(-0.001, 0.029, 0.039): "levelled", (0.032, 0.052, 0.031): "still rising",
             (0.017, 0.045, 0.048): "levelled", (0.005, 0.029, 0.023): "too close to call",
             (0.018, 0.045, 0.031): "too close to call", (0.002, 0.050, 0.040): "too close to call",
             (-0.005, 0.030, 0.026): "too close to call"}
    one_end = {"its upper end": lambda low, high, yardstick: "levelled" if high < yardstick else "still rising",
               "its lower end": lambda low, high, yardstick: "still rising" if low > yardstick else "levelled"}

    def checks() -> str:
        answers = {case: _call(fn, *case) for case in cases}
        words = set(cases.values())
        other = next((said for said in answers.values() if said not in words), None)
        if other is not None:
            raise _Wrong(f"answer with one of {', '.join(map(repr, sorted(words)))}, as the page's table "
                         f"does; got {other!r}")
        for end, rule in one_end.items():
            if answers != cases and all(answers[case] == rule(*case) for case in cases):
                raise _Wrong(f"you judge {end} alone, so an interval that holds the yardstick gets a side: "
                             "when the yardstick lies between its ends, the step is 'too close to call'")
        for (low, high, yardstick), expected in cases.items():
            got = answers[low, high, yardstick]
            if got == expected:
                continue
            step = f"gain {low:+.3f} to {high:+.3f}, yardstick {yardstick:.3f}"
            # what the interval says against zero: above it, or holding it (either word for that)
            by_zero = {"still rising"} if low > 0 else {"levelled", "too close to call"} if high > 0 else set()
            if got in by_zero:
                raise _Wrong(f"{step}: set the interval against the yardstick, not against zero: against "
                             f"zero it says {got!r}, against the yardstick {expected!r}")
            if {got, expected} == {"levelled", "still rising"}:
                raise _Wrong(f"{step}: {got!r} and {expected!r} are swapped")
            if expected == "too close to call":
                raise _Wrong(f"{step}: the interval holds the yardstick, so the step cannot say which "
                             f"side the gain lies on: 'too close to call', not {got!r} (judge the interval, "
                             "not its middle)")
            raise _Wrong(f"{step}: expected {expected!r}, got {got!r}")
        return "the interval, not its middle, against the yardstick: under, above, or holding it"

    return _run("level state", checks)


def _first_batch(before: Callable | None = None) -> list[int]:
    """Eight numbers shuffled by a freshly seeded loader, after ``before(loader)``: the appendix on
    runs' ``first_batch``, here so that the checker knows the answers without the student's copy."""
    from torch.utils.data import DataLoader
    loader = DataLoader(range(8), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    if before is not None:
        before(loader)
    return next(iter(loader)).tolist()


def check_moves(fn: Callable) -> bool:
    """``fn(before)``: whether ``before(loader)``, done to a freshly seeded shuffling loader before its loop,
    changes the loop's first batch (True or False).

    Catches: an answer that ignores ``before``, one that compares a loader with itself after ``before``
    (never moved), and one that seeds its loaders apart (always moved), on four cases: nothing done,
    ``len(loader)``, an unused ``iter(loader)``, and one batch taken.
    Cannot tell: an answer that knows these four cases by heart.
    """
    cases = {"nothing done": lambda loader: loader, "len(loader)": len, "an unused iter(loader)": iter,
             "one batch taken, next(iter(loader))": lambda loader: next(iter(loader))}

    def checks() -> str:
        for name, before in cases.items():
            expected, got = _first_batch(before) != _first_batch(), _call(fn, before)
            if not isinstance(got, bool):
                raise _Wrong(f"{name}: return True or False, not {type(got).__name__}")
            if got == expected:
                continue
            if name == "nothing done":
                raise _Wrong("nothing was done to the loader, yet your answer says its order moved: seed each "
                             "loader alike (a new generator, manual_seed(0)) and compare its first batch with a "
                             "fresh loader's")
            raise _Wrong(f"{name}: expected {expected}, got {got} (compare the first batch after before(loader) "
                         "with a fresh loader's first batch, not the loader with itself)")
        return "right on all four cases"

    return _run("moves the order", checks)


def check_caffe_input(fn: Callable) -> bool:
    """``fn(conv)``: a copy of a first convolution that gives the same outputs on Caffe's input convention.

    Catches: the given convolution changed in place, RGB left unflipped, the means left out of the bias, and
    a wrong scale.
    Cannot tell: convolutions with padding, where the folded means differ at the border (the case tried has
    none).
    """

    def checks() -> str:
        torch.manual_seed(0)
        conv = nn.Conv2d(3, 4, 3)  # no padding: equal everywhere, not only inside
        before = copy.deepcopy(conv.state_dict())
        image = torch.randn(2, 3, 9, 9)
        converted = _call(fn, conv)
        if not all(torch.equal(before[k], v) for k, v in conv.state_dict().items()):
            raise _Wrong("the convolution you were given changed: convert a copy (copy.deepcopy)")
        if not isinstance(converted, nn.Conv2d):
            raise _Wrong(f"return an nn.Conv2d, got {type(converted).__name__}")
        with torch.no_grad():
            expected, got = conv(image), converted(data.to_caffe_input(image))
            unflipped = nn.Conv2d(3, 4, 3)
            unflipped.load_state_dict(converted.state_dict())
            unflipped.weight.copy_(converted.weight.flip(1))
            if torch.allclose(unflipped(data.to_caffe_input(image)), expected, atol=1e-4):
                raise _Wrong("the channels are in RGB order; Caffe's input is BGR: flip dimension 1")
        if not torch.allclose(got, expected, atol=1e-4):
            std = torch.tensor(data.IMAGENET_STD).view(1, 3, 1, 1)
            mean = torch.tensor(data.IMAGENET_MEAN).view(1, 3, 1, 1)
            bgr_mean = torch.tensor(data.CAFFE_MEAN_BGR).view(1, 3, 1, 1) / 255  # not flipped to RGB
            unflipped_mean = conv.bias + (conv.weight * (bgr_mean - mean) / std).sum((1, 2, 3))
            if torch.allclose(converted.bias, unflipped_mean, atol=1e-4):
                raise _Wrong("Caffe's mean is in BGR order: flip data.CAFFE_MEAN_BGR to RGB before you "
                             "take ImageNet's mean from it, as the weights it multiplies are in RGB order")
            centred = [t - t.mean((0, 2, 3), keepdim=True) for t in (got, expected)]
            constant = torch.allclose(*centred, atol=1e-3)
            raise _Wrong("the outputs differ " + ("by a constant per channel: the means belong in the bias"
                                                  if constant else "in scale: divide by 255 x std"))
        return "weights / (255 x std) in BGR order, the means folded into the bias"

    return _run("Caffe input", checks)


def check_shard(fn: Callable) -> bool:
    """``fn(n, rank, world)``: the dataset indices one process trains on, as ``DistributedSampler`` (no shuffle).

    Catches: unequal shares (also padding that repeats too few indices when the world is over twice the
    dataset) and the right indices in another order, against DistributedSampler without shuffling on six
    dataset and world sizes.
    Cannot tell: shuffling: with shuffle, each epoch's order also depends on the seed and the epoch.
    """
    from torch.utils.data.distributed import DistributedSampler

    def checks() -> str:
        for n, world in ((10, 2), (10, 4), (7, 3), (3, 4), (1, 4), (2, 5)):
            for rank in range(world):
                expected = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
                got = [int(i) for i in _call(fn, n, rank, world)]
                if got == expected:
                    continue
                if len(got) != len(expected):
                    raise _Wrong(f"{n} images on {world} processes: rank {rank} gets {len(got)} indices, but every "
                                 f"process must get {len(expected)} (ceil(n / world)) and take the same number of "
                                 "steps, as gradients are averaged at every step; pad by repeating the indices from the "
                                 "start, going round the list again if the padding is longer than it")
                if sorted(got) == sorted(expected):
                    raise _Wrong(f"rank {rank} of {world}: the right indices in another order; take every "
                                 "world-th index starting at rank")
                padded = list(range(n)) * math.ceil(len(expected) * world / n)
                if got == padded[rank * len(expected):(rank + 1) * len(expected)]:
                    raise _Wrong(f"rank {rank} of {world} with {n} images: a contiguous chunk {got}; "
                                 "DistributedSampler interleaves instead: it takes every world-th index of the "
                                 f"padded list, starting at rank (r, r + world, ...), here {expected}")
                raise _Wrong(f"rank {rank} of {world} with {n} images: expected {expected}, got {got} "
                             "(pad to a multiple of world by repeating from the start, then take every world-th)")
        return "equal shares, every world-th index from rank, padded by repeating the first"

    return _run("shard", checks)


def check_rarefy(fn: Callable) -> bool:
    """``fn(net)``: one pass that gives shift-and-stitch's dense output (strides 1, later layers dilated).

    Catches: the given network changed, a stride left above 1, a stride set to 1 without the dilation that
    must follow it, a dilation without the padding scaled with it, against shift-and-stitch on a network of
    three convolutions and two pools.
    Cannot tell: the border: it compares the interior only, where padding cannot make the two differ.
    """
    from . import stitch

    def checks() -> str:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                            nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                            nn.Conv2d(4, 2, 3, padding=1)).eval()
        before = copy.deepcopy(net.state_dict())
        image = torch.randn(1, 3, 48, 48)
        dense = _call(fn, net)
        if any(getattr(m, "stride", None) not in (None, 2, (2, 2), 1, (1, 1)) for m in net.modules()) \
                or any(m.stride in (1, (1, 1)) for m in net if isinstance(m, nn.MaxPool2d)):
            raise _Wrong("the network you were given changed: rarefy a copy (copy.deepcopy)")
        if not all(torch.equal(before[k], v) for k, v in net.state_dict().items()):
            raise _Wrong("the network's weights changed: rarefy a copy and keep the weights")
        with torch.no_grad():
            expected = stitch.shift_and_stitch(net, image, 4)
            got = dense(image)
        def first(value):
            return value if isinstance(value, int) else value[0]

        layers = [m for m in dense.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
        strided = [m for m in layers if first(m.stride) != 1]
        if strided:
            raise _Wrong(f"the output is {tuple(got.shape[2:])}: {len(strided)} layer(s) still have a stride "
                         "above 1; set every stride to 1, so that the network answers at (nearly) every pixel")
        rarefied = stitch.rarefy(net)
        right = [m for m in rarefied.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
        if [first(m.dilation) for m in layers] != [first(m.dilation) for m in right]:
            raise _Wrong("stride 1 is right, but the layers after a removed stride must read every "
                         "d-th pixel: multiply their dilation and padding by d, the product of the strides "
                         "removed before them (pools too)")
        if [first(m.padding) for m in layers] != [first(m.padding) for m in right]:
            raise _Wrong(f"strides and dilations are right, but the output is {tuple(got.shape[2:])}, not "
                         f"{tuple(rarefied(image).shape[2:])}: a layer dilated by d reads a window d times wider, "
                         "so multiply its padding by d as well, or every dilated layer trims the map")
        margin = geometry.receptive_field(net) // 2
        inner = (slice(None), slice(None), slice(margin, got.shape[2] - margin),
                 slice(margin, got.shape[3] - margin))
        if not torch.allclose(got[inner], expected[..., :got.shape[2], :got.shape[3]][inner], atol=1e-4):
            raise _Wrong("stride 1 is right, but the layers after a removed stride must read every "
                         "d-th pixel: multiply their dilation and padding by d, the product of the strides "
                         "removed before them (pools too)")
        return "strides 1, later layers dilated by the strides removed: shift-and-stitch in one pass"

    return _run("rarefy", checks)


def check_interpolation_offset(fn: Callable) -> bool:
    """``fn(stride)``: where ``F.interpolate`` (bilinear, ``align_corners=False``) assumes score pixel 0 lies.

    Catches: 0 (the block's first pixel, where centred layers put it) and stride / 2 (the centre of a block of
    pixels read as unit intervals), against :func:`geometry.interpolation_misalignment` for strides 2, 4, 8, 16 and 32.
    Cannot tell: the borders, where interpolation copies the edge score whatever the offset.
    """
    def checks() -> str:
        for stride in (8, 2, 4, 16, 32):
            got = _call(fn, stride)
            n = 5
            off = geometry.interpolation_misalignment(geometry.CoordMap(stride, _fraction(got)), n, n * stride)
            if off == 0:
                continue
            if got == 0:
                raise _Wrong("0 is the first pixel of score pixel 0's block, where layers that are each centred "
                             "(fcn_resnet50's) put it; interpolation reads output pixel j at score coordinate "
                             "(j + 0.5) / stride - 0.5: solve that for j at score 0")
            if got == stride / 2:
                raise _Wrong(f"stride / 2 = {stride / 2} is the centre of the block if pixel i covered the "
                             "interval [i, i + 1); in the book's coordinates pixel i is centred on i, so the "
                             "block 0 ... stride - 1 is centred half a pixel earlier")
            raise _Wrong(f"stride {stride}: your offset leaves interpolation {float(off)} px off inside the "
                         "image; output pixel j reads score coordinate (j + 0.5) / stride - 0.5")
        return ("(stride - 1) / 2: the centre of score pixel 0's block of stride pixels; 3.5 for stride 8, "
                "where the book's dilated network puts its scores and fcn_resnet50 does not")

    return _run("interpolation offset", checks)


def check_decoder_sides(fn: Callable) -> bool:
    """``fn(size)``: per step of a U-Net decoder on ceil-mode pools, (side upsampled, side of the map it joins).

    Catches: a wrong number of steps and sides that forget ceil-mode's extra pixel, on sides 33, 97, 128 and
    500 against the U-Net's own forward pass.
    Cannot tell: how the decoder then crops or pads the one-pixel excess (chapter 9 shows it).
    """
    from .descendants import UNetFCN

    def measured(size: int) -> list[tuple[int, int]]:
        model, sides = UNetFCN(2).eval(), []
        for step in model.decoder:
            step.up.register_forward_hook(lambda m, args, out: sides.append(out.shape[2]))
        model.final.up.register_forward_hook(lambda m, args, out: sides.append(out.shape[2]))
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        joined = [math.ceil(size / 2 ** k) for k in (4, 3, 2, 1, 0)]
        return list(zip(sides, joined))

    def checks() -> str:
        for size in (97, 128, 33, 500):
            expected = measured(size)
            got = [tuple(int(v) for v in pair) for pair in _call(fn, size)]
            if len(got) != len(expected):
                raise _Wrong(f"there are {len(expected)} steps (pool5 -> pool4 -> ... -> pool1 -> the input), "
                             f"you gave {len(got)}")
            if got != expected:
                raise _Wrong(f"size {size}: expected {expected}, got {got}; each pool of a ceil-mode "
                             "network gives ceil(n / 2), and the upsampling doubles that")
        return "the upsampled map is 2 ceil(n / 2^(k+1)), one pixel more than ceil(n / 2^k) when that is odd"

    return _run("decoder sides", checks)


def check_conv_flops(fn: Callable) -> bool:
    """``fn(in_channels, out_channels, kernel, height, width)``: FLOPs of a size-keeping convolution.

    Catches: a count of multiply-adds instead of FLOPs, and a bias counted, against `descendants.count_flops`
    on four layers.
    Cannot tell: other layers (strided or transposed convolutions, pools); `descendants.count_flops`, which
    counts with PyTorch's FlopCounterMode, leaves pools and activations out altogether.
    """
    from .descendants import count_flops

    def checks() -> str:
        for case in ((3, 8, 3, 10, 12), (64, 64, 3, 125, 125), (16, 4, 1, 7, 9), (8, 8, 5, 20, 20)):
            c_in, c_out, k, h, w = case
            expected = count_flops(nn.Conv2d(c_in, c_out, k, padding=k // 2), h, w, channels=c_in)
            got = int(_call(fn, *case))
            if got == expected:
                continue
            if got * 2 == expected:
                raise _Wrong("half the count: a multiply-add is two floating-point operations")
            if got == expected // 2 + c_out * h * w or got == expected + c_out * h * w:
                raise _Wrong("leave the bias out: FlopCounterMode counts the products and sums of the weights only")
            raise _Wrong(f"{case}: expected {expected}, got {got}")
        return "2 x C_in x C_out x k^2 x H x W: every output value is a k x k x C_in dot product"

    return _run("convolution FLOPs", checks)
