"""Every checker accepts a right answer and rejects the typical wrong ones with specific feedback."""
import math

import pytest
import torch
from torch import nn

from fcn_lesson import checks, geometry, metrics


def feedback(capsys):
    return capsys.readouterr().out


def test_confusion_matrix_checker(capsys):
    assert checks.check_confusion_matrix(metrics.confusion_matrix)
    assert "✓" in feedback(capsys)

    def stub(pred, target, num_classes):
        ...

    def transposed(pred, target, num_classes):
        return metrics.confusion_matrix(pred, target, num_classes).T

    def counts_ignore(pred, target, num_classes):
        keep = target != 255
        hist = metrics.confusion_matrix(pred, target, num_classes)
        hist[0, 0] += int((~keep).sum())
        return hist

    def crashes(pred, target, num_classes):
        return torch.bincount(target.flatten() * num_classes + pred.flatten())

    for wrong, message in ((stub, "not implemented yet"), (transposed, "swapped"),
                           (counts_ignore, "255"), (crashes, "expected a 3 x 3 matrix")):
        assert not checks.check_confusion_matrix(wrong)
        assert message in feedback(capsys)

    def raises(pred, target, num_classes):
        raise NotImplementedError

    assert not checks.check_confusion_matrix(raises) and "not implemented" in feedback(capsys)


def test_mean_iu_checker(capsys):
    assert checks.check_mean_iu(lambda hist: metrics.scores(hist)["mean_iu"])

    def with_absent_as_nan(hist):
        hist = hist.double()
        return (hist.diag() / (hist.sum(0) + hist.sum(1) - hist.diag())).mean()

    def with_absent_as_zero(hist):
        hist = hist.double()
        return torch.nan_to_num(hist.diag() / (hist.sum(0) + hist.sum(1) - hist.diag())).mean()

    for wrong, message in ((lambda h: metrics.scores(h)["pixel_accuracy"], "pixel accuracy"),
                           (lambda h: torch.tensor(metrics.scores(h)["pixel_accuracy"], dtype=torch.float32),
                            "pixel accuracy"),
                           (lambda h: metrics.scores(h)["mean_accuracy"], "mean accuracy"),
                           (with_absent_as_nan, "nan"), (with_absent_as_zero, "must not count as 0"),
                           (lambda h: ..., "not implemented")):
        feedback(capsys)
        assert not checks.check_mean_iu(wrong)
        assert message in feedback(capsys)


def test_output_size_checker(capsys):
    def ceil_without_the_padding_rule(size, kernel, stride, padding, ceil_mode):
        span = size + 2 * padding - kernel
        return (math.ceil(span / stride) if ceil_mode else span // stride) + 1

    def right(size, kernel, stride, padding, ceil_mode):
        steps = ceil_without_the_padding_rule(size, kernel, stride, padding, ceil_mode) - 1
        return steps if ceil_mode and steps * stride >= size + padding else steps + 1

    assert checks.check_output_size(right)

    def always_floor(size, kernel, stride, padding, ceil_mode):
        return (size + 2 * padding - kernel) // stride + 1

    def no_padding(size, kernel, stride, padding, ceil_mode):
        return right(size, kernel, stride, 0, ceil_mode)

    def drop_test_without_the_padding(size, kernel, stride, padding, ceil_mode):
        steps = ceil_without_the_padding_rule(size, kernel, stride, padding, ceil_mode) - 1
        return steps if ceil_mode and steps * stride >= size else steps + 1

    for wrong, message in ((always_floor, "round the division up"), (no_padding, "both sides"),
                           (ceil_without_the_padding_rule, "starts in the right-hand padding"),
                           (drop_test_without_the_padding, "only if it starts in the right-hand padding")):
        feedback(capsys)
        assert not checks.check_output_size(wrong)
        assert message in feedback(capsys)


def test_receptive_field_checker(capsys):
    assert checks.check_receptive_field(geometry.receptive_field)

    def ignores_stride(layers):
        return 1 + sum(layer.kernel_size[0] - 1 if isinstance(layer, nn.Conv2d) else layer.kernel_size - 1
                       for layer in layers)

    feedback(capsys)
    assert not checks.check_receptive_field(ignores_stride)
    assert "product of the strides" in feedback(capsys)


def test_convolutionalize_checker(capsys):
    from fcn_lesson import surgery

    assert checks.check_convolutionalize(surgery.convolutionalize)

    def no_bias(linear, in_channels, k):
        conv = surgery.convolutionalize(linear, in_channels, k)
        torch.nn.init.zeros_(conv.bias)
        return conv

    def channels_last(linear, in_channels, k):
        conv = surgery.convolutionalize(linear, in_channels, k)
        with torch.no_grad():
            conv.weight.copy_(linear.weight.reshape(-1, k, k, in_channels).permute(0, 3, 1, 2))
        return conv

    def wrong_shape(linear, in_channels, k):
        return torch.nn.Conv2d(in_channels * k * k, linear.out_features, 1)

    for wrong, message in ((no_bias, "bias"), (channels_last, "channel first"), (wrong_shape, "(5, 4, 3, 3)"),
                           (lambda *a: ..., "not implemented")):
        feedback(capsys)
        assert not checks.check_convolutionalize(wrong)
        assert message in feedback(capsys)


def test_bilinear_kernel_checker(capsys):
    from fcn_lesson import surgery

    assert checks.check_bilinear_kernel(surgery.bilinear_kernel)

    def normalised(size):
        kernel = surgery.bilinear_kernel(size)
        return kernel / kernel.sum()

    def box(size):
        return torch.ones(size, size)

    def centred_as_if_even(size):
        factor = (size + 1) // 2
        tent = 1 - (torch.arange(size) - (factor - 0.5)).abs() / factor
        return tent[:, None] * tent[None, :]

    for wrong, message in ((normalised, "not the scale"), (box, "size 4: expected"), (lambda s: None, "returns nothing"),
                           (centred_as_if_even, "the centre is the middle tap")):
        feedback(capsys)
        assert not checks.check_bilinear_kernel(wrong)
        assert message in feedback(capsys)


def test_transposed_conv_checker(capsys):
    def right(x, weight, stride):
        return torch.nn.functional.conv_transpose2d(x[None, None], weight[None, None], stride=stride)[0, 0]

    def flipped(x, weight, stride):
        return right(x, weight.flip(0, 1), stride)

    def same_size(x, weight, stride):
        return torch.nn.functional.interpolate(x[None, None], scale_factor=stride)[0, 0]

    assert checks.check_transposed_conv(right)
    for wrong, message in ((flipped, "must not be flipped"), (same_size, "(n - 1) * stride + k")):
        feedback(capsys)
        assert not checks.check_transposed_conv(wrong)
        assert message in feedback(capsys)


def test_layer_map_checker(capsys):
    def right(kernel, stride, padding, transposed):
        layer = (nn.ConvTranspose2d if transposed else nn.Conv2d)(1, 1, kernel, stride, padding)
        cmap = geometry.layer_map(layer)
        return float(cmap.scale), float(cmap.offset)

    def no_centre(kernel, stride, padding, transposed):
        return (1 / stride, -padding / stride) if transposed else (stride, -padding)

    def transposed_like_conv(kernel, stride, padding, transposed):
        return stride, (kernel - 1) / 2 - padding

    assert checks.check_layer_map(right)
    for wrong, message in ((no_centre, "(k - 1) / 2"), (transposed_like_conv, "1 / stride"),
                           (lambda *a: 3, "a pair")):
        feedback(capsys)
        assert not checks.check_layer_map(wrong)
        assert message in feedback(capsys)


def test_crop_offset_checker(capsys):
    def right(source, target):
        shift = (target[1] - source[1]) / source[0]
        if shift != int(shift) or shift < 0:
            raise ValueError("no crop aligns these maps")
        return int(shift)

    assert checks.check_crop_offset(right)
    for wrong, message in ((lambda s, t: round((s[1] - t[1]) / s[0]), "sign is reversed"),
                           (lambda s, t: round(t[1] - s[1]), "divide by its scale"),
                           (lambda s, t: round((t[1] - s[1]) / s[0]), "no crop aligns them")):
        feedback(capsys)
        assert not checks.check_crop_offset(wrong)
        assert message in feedback(capsys)


def test_predict_checker(capsys):
    def right(model, image):
        model.eval()
        with torch.no_grad():
            return model(image[None]).argmax(1)[0]

    assert checks.check_predict(right)
    assert not checks.check_predict(lambda model, image: model(image[None]).argmax(1)[0].detach())
    assert "training mode" in feedback(capsys)
    assert not checks.check_predict(lambda model, image: model.eval()(image[None]).argmax(1).detach())
    assert "batch dimension" in feedback(capsys)
    assert not checks.check_predict(lambda model, image: model.eval()(image[None])[0].detach())
    assert "argmax" in feedback(capsys)
    assert not checks.check_predict(lambda model, image: model.eval()(image[None]).argmax(1)[0].float())
    assert "integers" in feedback(capsys)


def test_predict_checker_catches_missing_no_grad(capsys):
    def no_no_grad(model, image):  # eval mode, right classes, but autograd records the pass
        model.eval()
        return model(image[None]).argmax(1)[0]

    assert not checks.check_predict(no_no_grad)
    assert "no_grad" in feedback(capsys)

    def inference_mode(model, image):
        model.eval()
        with torch.inference_mode():
            return model(image[None]).argmax(1)[0]

    assert checks.check_predict(inference_mode)
    assert "no gradients" in feedback(capsys)


def test_fuse_checker(capsys):
    def right(coarse, skip, offset):
        return coarse + skip[:, :, offset:offset + coarse.shape[2], offset:offset + coarse.shape[3]]

    assert checks.check_fuse(right)
    assert not checks.check_fuse(lambda c, s, o: c + s[:, :, :c.shape[2], :c.shape[3]])
    assert "starts at 0" in feedback(capsys)
    assert not checks.check_fuse(lambda c, s, o: torch.cat([c, s[:, :, o:o + c.shape[2], o:o + c.shape[3]]], 1))
    assert "summing" in feedback(capsys)
    assert not checks.check_fuse(lambda c, s, o: c + s[:, :, s.shape[2] - c.shape[2]:, s.shape[3] - c.shape[3]:])
    assert "from the end" in feedback(capsys)


def test_boundary_mask_checker(capsys):
    assert checks.check_boundary_mask(metrics.boundary_mask)
    assert not checks.check_boundary_mask(lambda target, width: metrics.boundary_mask(target, width + 1))
    assert "band of width" in feedback(capsys)

    def keeps_ignored(target, width):
        return metrics.boundary_mask(target, width) | (target == 255)

    assert not checks.check_boundary_mask(keeps_ignored)
    assert "255" in feedback(capsys)
    assert not checks.check_boundary_mask(lambda target, width: torch.ones(3, 3, dtype=torch.bool))
    assert "same shape" in feedback(capsys)

    def objects_only(target, width):  # object against background: blind to two touching classes
        return metrics.boundary_mask(torch.where(target == 255, target, (target > 0).long()), width)

    assert not checks.check_boundary_mask(objects_only)
    assert "touching objects" in feedback(capsys)


def test_effective_lr_checker(capsys):
    assert checks.check_effective_lr(lambda lr, momentum, pixels: lr * pixels / (1 - momentum))
    assert not checks.check_effective_lr(lambda lr, momentum, pixels: lr * pixels)
    assert "momentum is missing" in feedback(capsys)
    assert not checks.check_effective_lr(lambda lr, momentum, pixels: lr / (1 - momentum))
    assert "pixels are missing" in feedback(capsys)


def test_seed_half_width_checker(capsys):
    from fcn_lesson import stats

    def right(k, scene_part, seed_variance, quantile=0.975, freedom=-1):
        return stats.t_quantile(quantile, k + freedom) * math.sqrt(scene_part + seed_variance / k)

    assert checks.check_seed_half_width(right)
    assert "✓" in feedback(capsys)
    slips = {
        "Student's t": lambda k, a, b: 1.96 * math.sqrt(a + b / k),
        "k - 1 degrees": lambda k, a, b: right(k, a, b, freedom=0),
        "0.975 quantile": lambda k, a, b: right(k, a, b, quantile=0.95),
        "scenes' part is missing": lambda k, a, b: right(k, 0.0, b),
        "divide the seeds' variance": lambda k, a, b: right(k, a, b * k),
        "keep the scenes' part whole": lambda k, a, b: right(k, a / k, b),
        "square root": lambda k, a, b: right(k, a, b) ** 2 / stats.t_quantile(0.975, k - 1),
        "add the variances": lambda k, a, b: stats.t_quantile(0.975, k - 1)
        * (math.sqrt(a) + math.sqrt(b / k)),
        "use the arguments": lambda k, a, b: right(k, 1e-4, 4e-4),  # the notebook's parts, not the given ones
    }
    for hint, slip in slips.items():
        assert not checks.check_seed_half_width(slip)
        assert hint in feedback(capsys), hint


def test_level_state_checker(capsys):
    def right(low, high, yardstick):
        if high < yardstick:
            return "levelled"
        return "still rising" if low > yardstick else "too close to call"

    assert checks.check_level_state(right)
    assert "✓" in feedback(capsys)
    slips = {
        "judge the interval": lambda low, high, w: "levelled" if (low + high) / 2 < w else "still rising",
        "not against zero": lambda low, high, w: ("too close to call" if low < 0 < high
                                                  else right(low, high, w)),
        "against zero it says": lambda low, high, w: right(low, high, 0),  # zero as the yardstick
        "against the yardstick, not against zero": lambda low, high, w: (
            "still rising" if low > 0 else "levelled"),
        "swapped": lambda low, high, w: {"levelled": "still rising", "still rising": "levelled"}.get(
            right(low, high, w), "too close to call"),
        "its upper end alone": lambda low, high, w: "levelled" if high < w else "still rising",
        "its lower end alone": lambda low, high, w: "still rising" if low > w else "levelled",
        "not its middle": lambda low, high, w: ("levelled" if (low + high) / 2 < w - 0.01 else "still rising"
                                                if (low + high) / 2 > w + 0.01 else "too close to call"),
        "against the yardstick, not against zero: against zero it says 'levelled'": lambda low, high, w: (
            "levelled" if low <= 0 else right(low, high, w)),  # not told apart from zero, so levelled
        "not implemented": lambda low, high, w: None,
        "answer with one of 'levelled', 'still rising', 'too close to call'": lambda low, high, w: (
            right(low, high, w).replace("too close to call", "undecided")),  # right, in other words
    }
    for hint, slip in slips.items():
        assert not checks.check_level_state(slip)
        assert hint in feedback(capsys), hint


def test_moves_checker(capsys):
    first = checks._first_batch  # the checker's own freshly seeded loader
    assert checks.check_moves(lambda before: first(before) != first())
    assert "✓" in feedback(capsys)
    slips = {
        "seed each loader alike": lambda before: True,  # as if every loader were seeded apart
        "not the loader with itself": lambda before: False,  # before applied to both
        "return True or False": lambda before: int(first(before) != first()),
        "not implemented": lambda before: None,
    }
    for hint, slip in slips.items():
        assert not checks.check_moves(slip)
        assert hint in feedback(capsys), hint


def test_caffe_input_checker(capsys):
    from fcn_lesson import surgery
    assert checks.check_caffe_input(surgery.caffe_input)
    assert "✓" in feedback(capsys)

    def rgb_order(conv):
        converted = surgery.caffe_input(conv)
        with torch.no_grad():
            converted.weight.copy_(converted.weight.flip(1))
        return converted

    def no_bias(conv):
        converted = surgery.caffe_input(conv)
        with torch.no_grad():
            converted.bias.copy_(conv.bias)
        return converted

    def in_place(conv):
        with torch.no_grad():
            conv.weight.copy_(surgery.caffe_input(conv).weight)
        return conv

    for wrong, hint in ((rgb_order, "BGR"), (no_bias, "bias"), (in_place, "copy")):
        assert not checks.check_caffe_input(wrong)
        assert hint in feedback(capsys)


def test_shard_checker(capsys):
    def right(n, rank, world):
        indices = list(range(n))
        padding = math.ceil(n / world) * world - n
        indices += (indices * math.ceil(padding / n))[:padding]
        return indices[rank::world]

    assert checks.check_shard(right)
    assert not checks.check_shard(lambda n, rank, world: list(range(n))[rank::world])
    assert "same number of steps" in feedback(capsys)

    def blocks(n, rank, world):
        per = math.ceil(n / world)
        indices = list(range(n)) + list(range(per * world - n))
        return indices[rank * per:(rank + 1) * per]

    assert not checks.check_shard(blocks)
    assert "every world-th" in feedback(capsys)


def test_every_checker_tells_an_unfinished_or_broken_answer_what_to_do(capsys):
    for name in checks.__all__:
        if not name.startswith("check_"):
            continue
        checker = getattr(checks, name)

        def unfinished(*args):
            ...

        def broken(*args):
            return torch.zeros(1, 2, 3)

        assert not checker(unfinished), name
        assert "not implemented yet" in feedback(capsys), name
        assert not checker(broken), name
        message = feedback(capsys)
        assert message.startswith("✗") and len(message) > 40, (name, message)


def test_rarefy_checker(capsys):
    from fcn_lesson import stitch
    assert checks.check_rarefy(stitch.rarefy)
    assert "✓" in feedback(capsys)

    def strides_only(net):
        import copy
        copied = copy.deepcopy(net)
        for m in copied:
            if isinstance(m, nn.MaxPool2d):
                m.stride = 1
        return copied

    assert not checks.check_rarefy(strides_only)
    assert "dilation" in feedback(capsys)
    assert not checks.check_rarefy(lambda net: net)
    assert "set every stride to 1" in feedback(capsys)

    def padding_kept(net):  # the classic slip: dilated, but padded as before
        import copy
        copied, dilation = copy.deepcopy(net), 1
        for m in copied:
            if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
                stride = m.stride if isinstance(m.stride, int) else m.stride[0]
                m.stride, m.dilation = (1, 1) if isinstance(m, nn.Conv2d) else 1, \
                    (dilation, dilation) if isinstance(m, nn.Conv2d) else dilation
                dilation *= stride
        return copied

    assert not checks.check_rarefy(padding_kept)
    message = feedback(capsys)
    assert "multiply its padding by d" in message and "set every stride" not in message


def test_decoder_sides_checker(capsys):
    def right(size):
        pooled = [math.ceil(size / 2 ** k) for k in range(6)]
        return [(2 * pooled[k + 1], pooled[k]) for k in (4, 3, 2, 1, 0)]

    assert checks.check_decoder_sides(right)
    assert not checks.check_decoder_sides(lambda size: [(2 * (size // 2 ** (k + 1)), size // 2 ** k)
                                                        for k in (4, 3, 2, 1, 0)])
    assert "ceil(n / 2)" in feedback(capsys)


def test_conv_flops_checker(capsys):
    assert checks.check_conv_flops(lambda c_in, c_out, k, h, w: 2 * c_in * c_out * k * k * h * w)
    assert not checks.check_conv_flops(lambda c_in, c_out, k, h, w: c_in * c_out * k * k * h * w)
    assert "multiply-add is two" in feedback(capsys)


def test_fc6_crops_checker_names_the_three_classic_slips(capsys):
    assert checks.check_fc6_crops(lambda k: (5 + (k - 7), 9 + 2 * (k - 7), 31 - 16 * (k - 7)))
    assert not checks.check_fc6_crops(lambda k: (5, 9, 31 - 16 * (k - 7)))
    assert "skip crops should change too" in feedback(capsys)
    assert not checks.check_fc6_crops(lambda k: (5 - (k - 7), 9 - 2 * (k - 7), 31 + 16 * (k - 7)))
    assert "sign is reversed" in feedback(capsys)
    assert not checks.check_fc6_crops(lambda k: (5 + 16 * (k - 7), 9 + 16 * (k - 7), 31 - 16 * (k - 7)))
    assert "divide the shift by 16 and by 8" in feedback(capsys)


def test_every_checker_says_what_it_catches_and_what_it_cannot_tell():
    checkers = [getattr(checks, name) for name in checks.__all__ if name.startswith("check_")]
    assert len(checkers) == 26
    for checker in checkers:
        catches, cannot = checks.scope(checker)
        assert catches and cannot and "Cannot tell" not in catches, checker.__name__

    def undocumented(fn):
        """Checks something."""

    with pytest.raises(ValueError, match="undocumented's docstring says neither"):
        checks.scope(undocumented)


def test_vgg16_copy_test_checker(capsys):
    from fcn_lesson.models import VGGClassifier
    from torchvision.models import vgg16

    def convs(model):
        return [m for m in model.modules() if isinstance(m, nn.Conv2d)]

    def good_test(copy):
        vgg, classifier = vgg16(weights=None), VGGClassifier(1000, backbone="vgg16")
        copy(classifier, vgg)
        pairs = list(zip(convs(vgg.features), convs(classifier.features)))
        return len(pairs) == 13 and all(torch.equal(s.weight, t.weight) for s, t in pairs)

    def zipping_test(copy):  # the classic wrong test: it zips the lists too, and compares nothing
        vgg, classifier = vgg16(weights=None), VGGClassifier(1000, backbone="vgg16")
        copy(classifier, vgg)
        return all(torch.equal(s.weight, t.weight) for s, t in zip(vgg.features, classifier.features)
                   if isinstance(s, nn.Conv2d) and isinstance(t, nn.Conv2d))

    def fc_only_test(copy):
        vgg, classifier = vgg16(weights=None), VGGClassifier(1000, backbone="vgg16")
        copy(classifier, vgg)
        return torch.equal(vgg.classifier[0].weight, classifier.classifier.fc6.weight)

    assert checks.check_vgg16_copy_test(good_test)
    assert "✓" in feedback(capsys)
    for wrong in (zipping_test, fc_only_test):
        assert not checks.check_vgg16_copy_test(wrong)
        assert "copies no convolution" in feedback(capsys)
    assert not checks.check_vgg16_copy_test(lambda copy: False)
    assert "rejects a copy" in feedback(capsys)
    # the routine the exercise is about copies fc6-fc8 and no convolution
    vgg, classifier = vgg16(weights=None), VGGClassifier(1000, backbone="vgg16")
    before = convs(classifier.features)[0].weight.clone()
    assert checks.zipped_vgg16_copy(classifier, vgg) is classifier
    assert torch.equal(before, convs(classifier.features)[0].weight)
    assert torch.equal(vgg.classifier[6].weight, classifier.classifier.fc8.weight)


def test_shard_checker_catches_padding_too_short_when_the_world_is_over_twice_the_dataset(capsys):
    def sliced(n, rank, world):  # pads with indices[:padding], which holds only n indices
        indices = list(range(n))
        indices += indices[:math.ceil(n / world) * world - n]
        return indices[rank::world]

    assert not checks.check_shard(sliced)
    said = feedback(capsys)
    assert "1 images on 4 processes: rank 2 gets 0 indices" in said and "round the list again" in said


def test_effective_lr_checker_catches_the_momentum_series_started_at_m(capsys):
    assert not checks.check_effective_lr(lambda lr, m, pixels: lr * pixels * m / (1 - m))
    assert "1 + m + m^2" in feedback(capsys)


def test_mean_iu_checker_names_fw_iu_and_the_mean_over_the_target_classes_only(capsys):
    def target_classes_only(hist):
        hist = hist.double()
        iu = hist.diag() / (hist.sum(0) + hist.sum(1) - hist.diag())
        return iu[hist.sum(1) > 0].mean()

    for wrong, message in ((lambda h: metrics.scores(h)["fw_iu"], "frequency-weighted IU"),
                           (target_classes_only, "present in the target (t_i > 0)")):
        feedback(capsys)
        assert not checks.check_mean_iu(wrong)
        assert message in feedback(capsys)
    feedback(capsys)
    assert checks.check_mean_iu(lambda hist: metrics.scores(hist)["mean_iu"])


def test_transposed_conv_checker_names_the_flip_for_a_gather_too(capsys):
    def gathered_unflipped(x, weight, stride):  # the classic F.conv2d mistake: the kernel as it is
        k = weight.shape[0]
        dilated = torch.zeros((x.shape[0] - 1) * stride + 1, (x.shape[1] - 1) * stride + 1)
        dilated[::stride, ::stride] = x
        padded = torch.nn.functional.pad(dilated, (k - 1,) * 4)
        return torch.nn.functional.conv2d(padded[None, None], weight[None, None])[0, 0]

    feedback(capsys)
    assert not checks.check_transposed_conv(gathered_unflipped)
    message = feedback(capsys)
    assert "kernel flipped" in message and "weight.flip(0, 1)" in message



def test_confusion_matrix_checker_names_the_missing_255_filter_and_the_missing_minlength(capsys):
    def unfiltered(pred, target, num_classes):  # 255 * 3 + 2 = 767: 768 counts, not 9
        pairs = num_classes * target.flatten() + pred.flatten()
        return torch.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)

    def no_minlength(pred, target, num_classes):  # the largest pair is 6: 7 counts, not 9
        keep = target != 255
        return torch.bincount(num_classes * target[keep] + pred[keep]).reshape(num_classes, num_classes)

    for wrong, message in ((unfiltered, "target is 255"), (no_minlength, "minlength=num_classes**2")):
        feedback(capsys)
        assert not checks.check_confusion_matrix(wrong)
        said = feedback(capsys)
        assert message in said and "invalid for input of size" in said


def test_mean_iu_checker_names_a_union_that_counts_the_intersection_twice_and_dice(capsys):
    def intersection_twice(hist):
        hist = hist.double()
        return (hist.diag() / (hist.sum(0) + hist.sum(1))).mean()

    def dice(hist):
        hist = hist.double()
        return (2 * hist.diag() / (hist.sum(0) + hist.sum(1))).mean()

    for wrong, message in ((intersection_twice, "counts the intersection twice"), (dice, "Dice")):
        feedback(capsys)
        assert not checks.check_mean_iu(wrong)
        assert message in feedback(capsys)


def test_crop_offset_checker_requires_a_value_error(capsys):
    def asserting(source, target):  # refuses the right pairs, but with an assert
        shift = (target[1] - source[1]) / source[0]
        assert shift == int(shift) and shift >= 0, "no crop aligns these maps"
        return int(shift)

    assert not checks.check_crop_offset(asserting)
    assert "AssertionError" in feedback(capsys)


def test_mean_iu_checker_names_zero_iu_classes_left_out_and_the_mean_over_the_predicted_classes(capsys):
    def iu_of(hist):
        hist = hist.double()
        return hist.diag() / (hist.sum(0) + hist.sum(1) - hist.diag()), hist.sum(0)

    def above_zero_only(hist):  # the classic slip: iu[iu > 0], which is also 0.5 on many small matrices
        iu, _ = iu_of(hist)
        return iu[iu > 0].mean()

    def predicted_classes_only(hist):
        iu, predicted = iu_of(hist)
        return iu[predicted > 0].mean()

    for wrong, message in ((above_zero_only, "left out the classes whose IU is 0"),
                           (predicted_classes_only, "over the predicted classes only")):
        feedback(capsys)
        assert not checks.check_mean_iu(wrong)
        said = feedback(capsys)
        assert message in said and "mean accuracy" not in said


def test_mean_iu_checker_names_an_absent_class_scored_as_one(capsys):
    def with_absent_as_one(hist):  # 0 / 0 taken as a perfect IU
        hist = hist.double()
        union = hist.sum(0) + hist.sum(1) - hist.diag()
        return torch.where(union > 0, hist.diag() / union, 1.0).mean()

    feedback(capsys)
    assert not checks.check_mean_iu(with_absent_as_one)
    assert "score it IU 1" in feedback(capsys)


def test_shard_checker_names_contiguous_chunks(capsys):
    def chunks(n, rank, world):  # the padded list cut into world consecutive pieces
        per = math.ceil(n / world)
        indices = list(range(n)) * math.ceil(per * world / n)
        return indices[rank * per:(rank + 1) * per]

    feedback(capsys)
    assert not checks.check_shard(chunks)
    said = feedback(capsys)
    assert "contiguous chunk" in said and "interleaves" in said


def test_caffe_input_checker_names_the_bgr_mean_left_unflipped(capsys):
    import copy

    from fcn_lesson import data

    def unflipped_mean(conv):
        std = torch.tensor(data.IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(data.IMAGENET_MEAN).view(1, 3, 1, 1)
        caffe_mean = torch.tensor(data.CAFFE_MEAN_BGR).view(1, 3, 1, 1) / 255  # BGR, used as RGB
        converted = copy.deepcopy(conv)
        with torch.no_grad():
            converted.weight.copy_((conv.weight / (255 * std)).flip(1))
            converted.bias.copy_(conv.bias + (conv.weight * (caffe_mean - mean) / std).sum((1, 2, 3)))
        return converted

    feedback(capsys)
    assert not checks.check_caffe_input(unflipped_mean)
    said = feedback(capsys)
    assert "BGR order: flip data.CAFFE_MEAN_BGR" in said and "belong in the bias" not in said


def test_border_weights_checker_names_the_classic_slips(capsys):
    def right(factor):
        return (2 * torch.arange(factor // 2) + factor + 1) / (2 * factor)

    def uncropped(factor):
        return (2 * torch.arange(factor // 2) + 1) / (2 * factor)

    def centred_on_a_tap(factor):
        return (2 * torch.arange(factor // 2) + factor) / (2 * factor)

    def edge_row(factor):
        return right(factor)[0] * right(factor)

    def whole_tent(factor):
        return torch.cat([right(factor), torch.ones(1)])

    assert checks.check_border_weights(right)
    assert "✓" in feedback(capsys)
    for wrong, message in ((uncropped, "the padding cuts"), (centred_on_a_tap, "between two taps"),
                           (edge_row, "the edge row"), (whole_tent, "factor / 2 = 1 pixel(s) wide")):
        assert not checks.check_border_weights(wrong)
        assert message in feedback(capsys), wrong.__name__


def test_leading_confusion_checker_names_one_direction_the_diagonal_and_the_order(capsys):
    from fcn_lesson import metrics

    def both_ways(confusion):
        wrong = metrics.mistakes(confusion)
        pairs = [(int(wrong[a, b] + wrong[b, a]), a, b) for a in range(len(wrong))
                 for b in range(a + 1, len(wrong))]
        count, a, b = max(pairs, key=lambda pair: pair[0])
        return a, b, count

    def one_way(confusion):
        wrong = metrics.mistakes(confusion)
        a, b = divmod(int(wrong.argmax()), len(wrong))
        return min(a, b), max(a, b), int(wrong[a, b])

    def with_diagonal(confusion):
        index = int((confusion + confusion.T).argmax())
        a, b = divmod(index, len(confusion))
        return a, b, int((confusion + confusion.T)[a, b])

    def reversed_pair(confusion):
        a, b, count = both_ways(confusion)
        return b, a, count

    assert checks.check_leading_confusion(both_ways)
    assert "✓" in feedback(capsys)
    for wrong, message in ((one_way, "largest wrong cell alone"), (with_diagonal, "diagonal"),
                           (reversed_pair, "smaller class first")):
        assert not checks.check_leading_confusion(wrong)
        assert message in feedback(capsys), wrong.__name__


def test_interpolation_offset_checker_names_the_first_pixel_and_the_unit_interval_centre(capsys):
    assert checks.check_interpolation_offset(lambda stride: (stride - 1) / 2)
    assert "3.5 for stride 8" in feedback(capsys)
    assert not checks.check_interpolation_offset(lambda stride: 0)
    assert "fcn_resnet50" in feedback(capsys)
    assert not checks.check_interpolation_offset(lambda stride: stride / 2)
    assert "half a pixel earlier" in feedback(capsys)
    assert not checks.check_interpolation_offset(lambda stride: stride)
    assert "px off inside" in feedback(capsys)


def test_effective_lr_checker_catches_an_answer_that_knows_only_two_momenta(capsys):
    gains = {0.99: 100, 0.9: 10}
    assert not checks.check_effective_lr(lambda lr, m, pixels: lr * pixels * gains.get(m, 1))
    assert "momentum is missing" in feedback(capsys)  # at 0.95, the third momentum
