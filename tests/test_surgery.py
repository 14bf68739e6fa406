from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg11, vgg16

from fcn_lesson import data, surgery
from fcn_lesson.models import FCN8s, FCN16s, FCN32s, MINI, VGG16


def test_bilinear_kernel_values():
    torch.testing.assert_close(surgery.bilinear_kernel(4)[1], torch.tensor([0.25, 0.75, 0.75, 0.25]) * 0.75)
    torch.testing.assert_close(surgery.bilinear_kernel(3)[1], torch.tensor([0.5, 1.0, 0.5]))
    k = surgery.bilinear_kernel(7)
    assert k.shape == (7, 7) and k.max() == k[3, 3] == 1 and torch.equal(k, k.T) and torch.equal(k, k.flip(0))
    with pytest.raises(ValueError):
        surgery.bilinear_kernel(0)


@pytest.mark.parametrize("factor", [2, 3, 4, 8, 32])
def test_tents_a_factor_apart_sum_to_one(factor):
    kernel = surgery.bilinear_kernel(2 * factor)
    tent = kernel[factor - 1] / kernel[factor - 1, factor - 1].sqrt()  # the 1-D factor of the outer product
    torch.testing.assert_close(tent[:factor] + tent[factor:], torch.ones(factor))


@pytest.mark.parametrize("factor", [2, 4, 8, 16, 32])
def test_bilinear_deconvolution_equals_interpolation_away_from_the_borders(factor):
    x = torch.randn(2, 3, 6, 5)
    up = surgery.bilinear_upsampler(3, factor, padding=factor // 2)
    with torch.no_grad():
        ours = up(x)
    reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape
    inner = slice(factor // 2, -(factor // 2))
    torch.testing.assert_close(ours[..., inner, inner], reference[..., inner, inner])
    # at the borders interpolation repeats the edge value while the deconvolution fades to zero
    assert not torch.allclose(ours[..., 0, :], reference[..., 0, :])


def test_bilinear_weight_upsamples_each_channel_on_its_own():
    w = surgery.bilinear_weight(3, 4)
    assert w.shape == (3, 3, 4, 4)
    assert torch.equal(w[1, 1], surgery.bilinear_kernel(4)) and w[0, 1].abs().sum() == 0


def test_upsampler_is_fixed_unless_asked():
    assert not surgery.bilinear_upsampler(2, 2).weight.requires_grad
    assert surgery.bilinear_upsampler(2, 2, learnable=True).weight.requires_grad
    assert surgery.bilinear_upsampler(2, 2).bias is None


def small_classifier():
    """Unpadded convolutions, so that a crop sees exactly what the dense network sees."""
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 4, 3))
    return features, nn.Linear(4 * 4 * 4, 6)  # native input 14 x 14 -> a 4 x 4 map


def test_convolutionalized_classifier_gives_the_classifiers_logits():
    features, fc = small_classifier()
    x = torch.randn(4, 3, 14, 14)
    with torch.no_grad():
        logits = fc(features(x).flatten(1))
        dense = surgery.convolutionalize(fc, 4, 4)(features(x))
    assert dense.shape == (4, 6, 1, 1)
    torch.testing.assert_close(dense[:, :, 0, 0], logits)


def test_convolutionalized_classifier_slides_over_larger_inputs():
    features, fc = small_classifier()
    conv = surgery.convolutionalize(fc, 4, 4)
    x = torch.randn(1, 3, 20, 18)
    with torch.no_grad():
        dense = conv(features(x))
        window = fc(features(x[:, :, 4:18, 2:16]).flatten(1))  # output (2, 1): stride 2, 14 px window
    assert dense.shape == (1, 6, 4, 3)
    torch.testing.assert_close(dense[0, :, 2, 1], window[0])


def test_convolutionalize_refuses_a_shape_that_does_not_match():
    with pytest.raises(ValueError, match="100 inputs.*4 x 3 x 3"):
        surgery.convolutionalize(nn.Linear(100, 6), 4, 3)


@pytest.fixture(scope="module")
def source_vgg16():
    torch.manual_seed(1)
    return vgg16(weights=None)


def test_transplant_copies_every_vgg16_tensor(source_vgg16):
    fcn = surgery.transplant_vgg16(FCN8s(21), source_vgg16)
    source = [m for m in source_vgg16.features if isinstance(m, nn.Conv2d)]
    target = [m for m in fcn.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert len(target) == 13
    for s, t in zip(source, target):
        assert torch.equal(s.weight, t.weight) and torch.equal(s.bias, t.bias)
    for s, t in ((source_vgg16.classifier[0], fcn.head.fc6), (source_vgg16.classifier[3], fcn.head.fc7)):
        assert torch.equal(s.weight, t.weight.flatten(1)) and torch.equal(s.bias, t.bias)


def test_transplanted_head_computes_the_classifier(source_vgg16):
    """fc7 of the FCN on pool5 of a 224 crop is fc7 of VGG16 on that crop."""
    fcn = surgery.transplant_vgg16(FCN32s(21), source_vgg16).eval()
    source_vgg16.eval()
    pool5 = torch.randn(1, 512, 7, 7)
    with torch.no_grad():
        dense = fcn.head(pool5)
        fc7 = source_vgg16.classifier[:5](pool5.flatten(1))
    torch.testing.assert_close(dense[:, :, 0, 0], fc7, rtol=1e-4, atol=1e-4)


def test_transplant_refuses_other_shapes(source_vgg16):
    with pytest.raises(ValueError, match="13 convolutions.*backbone='vgg16'"):
        surgery.transplant_vgg16(FCN32s(21, backbone="mini"), source_vgg16)
    with pytest.raises(ValueError, match="13 convolutions"):
        surgery.transplant_vgg16(FCN32s(21), vgg11(weights=None))
    narrow_fc = FCN32s(21, backbone=replace(VGG16, fc_width=1024))
    before = narrow_fc.backbone.block1.conv1_1.weight.clone()
    with pytest.raises(ValueError, match="fc6"):
        surgery.transplant_vgg16(narrow_fc, source_vgg16)
    assert torch.equal(before, narrow_fc.backbone.block1.conv1_1.weight)  # nothing copied


@pytest.mark.parametrize("cls", [FCN32s, FCN16s, FCN8s])
@pytest.mark.parametrize("layout", [MINI, replace(VGG16, widths=(4,) * 5, fc_width=4)])
def test_outputs_are_aligned_with_the_input(cls, layout):
    assert surgery.misalignment(cls(5, backbone=layout)) == pytest.approx((0, 0), abs=1e-3)


def test_a_wrong_crop_is_measured_as_a_shift():
    model = FCN8s(5, backbone=replace(VGG16, widths=(4,) * 5, fc_width=4))
    model.crops = (5, 9, 28)  # the widely copied 28 instead of 31
    assert surgery.misalignment(model) == pytest.approx((-3, -3), abs=1e-3)
    model.crops = (5, 8, 31)  # pool3 one stride-8 step off: a third of the sum moves 8 px
    assert surgery.misalignment(model) == pytest.approx((-8 / 3, -8 / 3), abs=1e-3)


def test_transplanted_classifier_gives_the_classifiers_features():
    from fcn_lesson.models import VGGClassifier

    classifier = VGGClassifier(6).eval()
    fcn = surgery.transplant_classifier(FCN32s(7, backbone="mini"), classifier).eval()
    size = classifier.layout.native_size
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        fc7 = classifier.classifier[:7](classifier.features(x))  # up to fc7's ReLU and dropout
        dense = fcn.head(classifier.features(x))
    torch.testing.assert_close(dense[:, :, 0, 0], fc7)
    for a, b in zip(classifier.features.state_dict().values(), fcn.backbone.state_dict().values()):
        assert torch.equal(a, b)


def test_transplant_classifier_refuses_another_layout():
    from fcn_lesson.models import VGGClassifier

    with pytest.raises(ValueError, match="same backbone layout"):
        surgery.transplant_classifier(FCN32s(7, backbone=replace(MINI, widths=(8, 8, 8, 8, 8))), VGGClassifier(6))
    with pytest.raises(ValueError, match="fc6"):
        surgery.transplant_classifier(FCN32s(7, backbone=replace(MINI, fc_width=64)), VGGClassifier(6))


def test_imagenet_vgg16_offline(offline):
    with pytest.raises(ConnectionError, match="ImageNet weights.*~/.cache/torch/hub/checkpoints"):
        surgery.imagenet_vgg16()
    model, pretrained = surgery.imagenet_vgg16(required=False)
    assert not pretrained and len(model.features) == 31


def test_caffe_input_gives_the_same_features_on_the_caffe_image():
    torch.manual_seed(0)
    conv = vgg16(weights=None).features[0]  # 3 -> 64, kernel 3, padding 1
    image = torch.randn(2, 3, 24, 32)
    with torch.no_grad():
        expected = conv(image)
        got = surgery.caffe_input(conv)(data.to_caffe_input(image))
    # equal wherever the kernel reads only the image; along the 1-pixel border it reads zero padding,
    # which is the ImageNet mean in one convention and Caffe's mean in the other
    torch.testing.assert_close(got[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-4)
    assert (got - expected).abs().max() < 0.05
    assert not torch.equal(surgery.caffe_input(conv).weight, conv.weight)
    # the weights carry Caffe's units: 255 x std times smaller, channels reversed
    ratio = conv.weight[:, 0] / surgery.caffe_input(conv).weight[:, 2]
    torch.testing.assert_close(ratio, torch.full_like(ratio, 255 * data.IMAGENET_STD[0]))


def test_caffe_input_refuses_a_layer_that_does_not_read_rgb():
    with pytest.raises(ValueError, match="3 input channels"):
        surgery.caffe_input(nn.Conv2d(4, 8, 3))


def test_trained_or_random_says_what_it_could_not_get():
    def offline():
        raise OSError("no network")

    with pytest.raises(ConnectionError, match="could not get the weights \\(no network\\).*by hand"):
        surgery.trained_or_random(offline, nn.Identity, "the weights", required=True, hint=", or by hand")
    model, trained = surgery.trained_or_random(offline, nn.Identity, "the weights", required=False)
    assert isinstance(model, nn.Identity) and not trained
    assert surgery.trained_or_random(nn.ReLU, nn.Identity, "x", required=True)[1]


def test_an_odd_factor_interpolates_with_kernel_2f_minus_1_and_padding_half_f():
    # Chapter 4's odd-factor exercise: for f = 3, kernel 2f - f % 2 = 5 (centre on a tap) with
    # padding ceil((f - 1) / 2) = 1 puts output j at (j - 1) / 3, interpolation's own grid.
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    weight = surgery.bilinear_kernel(5).double().expand(3, 1, 5, 5)
    ours = F.conv_transpose2d(x, weight, stride=3, padding=1, groups=3)
    reference = F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours[..., 1:-1, 1:-1], reference[..., 1:-1, 1:-1])


def test_a_tent_of_size_k_sums_evenly_at_stride_ceil_k_over_2_and_not_at_every_stride():
    # Chapter 4's checkerboard section: the copies of a size-k tent shifted by ceil(k / 2)
    # sum to 1 at every phase (sizes 5 at stride 3 and AlexNet's 63 at 32 included); at
    # another stride they need not (size 4 at stride 3: 0.50, 0.75, 0.75 per direction).
    def copy_sums(kernel, stride):
        return torch.tensor([[kernel[r::stride, c::stride].sum() for c in range(stride)]
                             for r in range(stride)])

    for size in range(2, 65):
        stride = (size + 1) // 2
        assert torch.allclose(copy_sums(surgery.bilinear_kernel(size), stride), torch.ones(stride, stride))
    row = copy_sums(surgery.bilinear_kernel(4), 3)[1] / copy_sums(surgery.bilinear_kernel(4), 3)[1, 1].sqrt()
    assert torch.allclose(row, torch.tensor([0.5, 0.75, 0.75]))


def test_a_row_through_a_bilinear_upsampler_is_linear_interpolation_inside():
    row = torch.tensor([0.5, 1.0, 3.0, 2.0])
    out = surgery.upsample_row(surgery.bilinear_upsampler(1, 2, padding=1), row)
    expected = F.interpolate(row[None, None], scale_factor=2, mode="linear", align_corners=False)[0, 0]
    assert out.shape == (8,) and torch.allclose(out[1:-1], expected[1:-1])
    assert out[0] < expected[0] and out[-1] < expected[-1]  # past the ends: one tent only
