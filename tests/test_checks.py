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


def test_transplant_test_checker(capsys):
    from fcn_lesson import FCN32s, surgery
    from torchvision.models import vgg16

    def good_test(transplant):
        vgg, fcn = vgg16(weights=None), FCN32s(21)
        transplant(fcn, vgg)
        return all(torch.equal(s.weight, t.weight) for s, t in zip(
            [m for m in vgg.features if isinstance(m, nn.Conv2d)],
            [m for m in fcn.backbone.modules() if isinstance(m, nn.Conv2d)]))

    def checks_fc6_only(transplant):
        vgg, fcn = vgg16(weights=None), FCN32s(21)
        transplant(fcn, vgg)
        return torch.equal(vgg.classifier[0].weight, fcn.head.fc6.weight.flatten(1))

    assert checks.check_transplant_test(good_test)
    feedback(capsys)
    assert not checks.check_transplant_test(checks_fc6_only)
    assert "copies no convolution" in feedback(capsys)
    assert not checks.check_transplant_test(lambda transplant: False)
    assert "rejects surgery.transplant_vgg16" in feedback(capsys)
    # the routine the exercise is about really copies nothing
    vgg, fcn = vgg16(weights=None), FCN32s(21)
    before = fcn.backbone.block1.conv1_1.weight.clone()
    checks.zipped_transplant(fcn, vgg)
    assert torch.equal(before, fcn.backbone.block1.conv1_1.weight)
    assert surgery.transplant_vgg16(fcn, vgg) is fcn


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
        return round((target[1] - source[1]) / source[0])

    assert checks.check_crop_offset(right)
    for wrong, message in ((lambda s, t: round((s[1] - t[1]) / s[0]), "sign is reversed"),
                           (lambda s, t: round(t[1] - s[1]), "divide by its scale")):
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


def test_effective_lr_checker(capsys):
    assert checks.check_effective_lr(lambda lr, momentum, pixels: lr * pixels / (1 - momentum))
    assert not checks.check_effective_lr(lambda lr, momentum, pixels: lr * pixels)
    assert "momentum is missing" in feedback(capsys)
    assert not checks.check_effective_lr(lambda lr, momentum, pixels: lr / (1 - momentum))
    assert "pixels are missing" in feedback(capsys)


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
        indices += indices[:math.ceil(n / world) * world - n]
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


def test_every_checker_says_what_it_catches_and_what_it_cannot_tell():
    checkers = [getattr(checks, name) for name in checks.__all__ if name.startswith("check_")]
    assert len(checkers) == 19
    for checker in checkers:
        catches, cannot = checks.scope(checker)
        assert catches and cannot and "Cannot tell" not in catches, checker.__name__

    def undocumented(fn):
        """Checks something."""

    with pytest.raises(ValueError, match="undocumented's docstring says neither"):
        checks.scope(undocumented)
