"""Chapter 9's descendants of FCN: their geometry, their shapes on odd sizes, and FLOPs counted by hand."""
import pytest
import torch
from torch import nn

from fcn_lesson import descendants, geometry, surgery
from fcn_lesson.models import MINI, VGGClassifier, fit_layout, vgg_backbone
from fcn_lesson.registry import build_model, model_spec


def averaging_copy(backbone):
    """The backbone with max-pools made average-pools (a max passes the gradient to one pixel only),
    positive weights and no batch norm: every pixel a window covers then reaches the output."""
    layers = []
    for m in geometry.leaves(backbone):
        if isinstance(m, nn.MaxPool2d):
            layers.append(nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode))
        elif isinstance(m, nn.Conv2d):
            conv = nn.Conv2d(1, 1, m.kernel_size, padding=m.padding, dilation=m.dilation)
            nn.init.constant_(conv.weight, 1.0)
            layers.append(conv)
    return nn.Sequential(*layers)


def test_the_dilated_backbone_has_output_stride_8_and_the_receptive_field_geometry_derives():
    backbone = descendants.dilated_backbone(fit_layout(MINI))
    assert geometry.coord_map(backbone).scale == 8
    assert geometry.coord_map(vgg_backbone(fit_layout(MINI))).scale == 32
    probe = averaging_copy(backbone)
    x = torch.ones(1, 1, 320, 320, requires_grad=True)
    out = probe(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    seen = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
    assert geometry.receptive_field(backbone) == int(seen.max() - seen.min() + 1) == 158


@pytest.mark.parametrize("cls", [descendants.DilatedFCN, descendants.UNetFCN])
@pytest.mark.parametrize("size", [(97, 131), (33, 40), (128, 128)])
def test_the_descendants_answer_at_the_input_size_also_for_odd_sizes(cls, size):
    model = cls(7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, *size)).shape == (2, 7, *size)


def test_the_decoder_cuts_the_extra_pixel_of_ceil_mode_pools_at_the_end():
    model = descendants.UNetFCN(7).eval()
    pooled, y = [], torch.randn(1, 3, 97, 131)
    for block in model.backbone:
        y = block(y)
        pooled.append(y.shape[2:])
    assert pooled[3] == (7, 9) and pooled[4] == (4, 5)  # 2 x 4 = 8 rows upsampled onto 7: one cut
    # the upsampled map and the skip start at the same input coordinate, so the cut is at the end
    upsampled = geometry.coord_map([model.backbone, model.decoder[0].up])
    assert geometry.crop_offset(upsampled, geometry.coord_map(model.backbone[:4])) == 0


def test_descendants_refuse_what_they_cannot_read():
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        descendants.UNetFCN(7)(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match="at least 32 x 32"):
        descendants.DilatedFCN(7)(torch.randn(1, 3, 16, 40))


def test_count_flops_agrees_with_a_hand_count_for_one_convolution():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    # per output value: 3 x 3 x 3 multiplies and as many adds; 4 channels x 10 x 10 values
    assert descendants.count_flops(conv, 10) == 2 * (3 * 3 * 3) * 4 * 10 * 10
    assert descendants.count_flops(conv, 10, 20) == 2 * 27 * 4 * 10 * 20
    assert descendants.count_flops(conv.double(), 10) == descendants.count_flops(conv.float(), 10)  # any type


def test_descendants_start_from_the_classifier_backbone_and_rebuild_from_their_spec():
    torch.manual_seed(0)
    classifier = VGGClassifier(6)
    for cls in (descendants.DilatedFCN, descendants.UNetFCN):
        model = surgery.transplant_classifier(cls(7), classifier)
        assert torch.equal(model.backbone.block1.conv1_1.weight, classifier.features.block1.conv1_1.weight)
        rebuilt = build_model(model_spec(model))
        assert type(rebuilt) is cls and rebuilt.num_classes == 7


def test_torchvision_fcn_offline(offline):
    with pytest.raises(ConnectionError, match="fcn_resnet50's weights.*~/.cache/torch/hub/checkpoints"):
        descendants.torchvision_fcn()
    model, pretrained = descendants.torchvision_fcn(required=False)
    assert not pretrained and model.classifier[-1].out_channels == 21 and model.aux_classifier is not None


def test_time_methods_warms_up_then_alternates_the_order_each_round():
    calls = []
    methods = {"a": lambda: calls.append("a"), "b": lambda: calls.append(torch.is_grad_enabled())}
    times = descendants.time_methods(methods, repeats=3, warmup=2)
    assert calls == ["a", "a", False, False, "a", False, False, "a", "a", False]  # no gradients
    assert set(times) == {"a", "b"} and all(len(t) == 3 and min(t) >= 0 for t in times.values())
    with pytest.raises(ValueError, match="at least once"):
        descendants.time_methods(methods, repeats=0)


def test_layer_costs_give_each_layer_its_output_side_and_flops_summing_to_count_flops():
    model = descendants.UNetFCN(7)
    costs = descendants.layer_costs(model, 64)
    assert sum(flops for _, flops in costs.values()) == descendants.count_flops(model, 64)
    assert costs["backbone.block1.conv1_1"] == ((64, 64), 2 * 3 * 8 * 9 * 64 * 64)
    assert costs["backbone.block5.pool5"] == ((2, 2), 0)  # pools cost no FLOPs
    assert list(costs)[0] == "backbone.block1.conv1_1" and list(costs)[-1] == "final.score"
    assert descendants.layer_costs(vgg_backbone(fit_layout(MINI), padding=1), 33)["block1.pool1"][0] == (17, 17)


def test_a_narrowing_unet_decoder_takes_each_joined_blocks_width_and_costs_less():
    wide, narrow = descendants.UNetFCN(7), descendants.UNetFCN(7, narrowing=True)
    widths = fit_layout(MINI).widths
    assert [step.up.out_channels for step in narrow.decoder] == [widths[k] for k in (3, 2, 1, 0)]
    assert [step.up.out_channels for step in wide.decoder] == [widths[-1]] * 4
    assert narrow.final.score.in_channels == widths[0]
    assert narrow(torch.zeros(1, 3, 97, 97)).shape == (1, 7, 97, 97)
    assert descendants.count_flops(narrow, 128) < descendants.count_flops(wide, 128) / 10
    assert set(wide.state_dict()) == set(descendants.UNetFCN(7).state_dict())  # the default unchanged
