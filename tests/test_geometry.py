from dataclasses import replace
from fractions import Fraction

import pytest
import torch
from torch import nn

from fcn_lesson import geometry
from fcn_lesson.geometry import CoordMap, coord_map, crop_offset, layer_map
from fcn_lesson.models import FCN8s, FCN16s, FCN32s, MINI, VGG16, fit_layout, vgg_backbone
from fcn_lesson.surgery import bilinear_upsampler


def narrow(layout):
    """The same geometry with one channel: geometry ignores widths, and forwards get cheap."""
    return replace(layout, widths=(1,) * 5, fc_width=1)


def ramp_response(layer, size=40):
    """Feed a layer a column-index ramp through uniform weights: interior outputs read off
    the input position each output pixel is centred on."""
    ramp = torch.arange(size, dtype=torch.float64).expand(1, 1, size, size).clone()
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        layer = layer.double()
        with torch.no_grad():
            if isinstance(layer, nn.Conv2d):
                layer.weight.fill_(1 / layer.weight[0, 0].numel())
            if layer.bias is not None:
                layer.bias.zero_()
    with torch.no_grad():
        out = layer(ramp)[0, 0]
    return out[len(out) // 2]


@pytest.mark.parametrize("layer", [
    nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 5, stride=2, padding=1),
    nn.Conv2d(1, 1, 7), nn.Conv2d(1, 1, 3, dilation=2), nn.AvgPool2d(2, 2), nn.AvgPool2d(3, 2, padding=1),
    bilinear_upsampler(1, 2), bilinear_upsampler(1, 4, padding=2), bilinear_upsampler(1, 8),
])
def test_layer_map_predicts_where_each_output_pixel_is_centred(layer):
    cmap = layer_map(layer)
    out = ramp_response(layer)
    i = torch.arange(len(out), dtype=torch.float64)
    predicted = float(cmap.scale) * i + float(cmap.offset)
    interior = slice(len(out) // 4, 3 * len(out) // 4)
    torch.testing.assert_close(out[interior], predicted[interior])


def test_layer_maps_of_the_fcn_layers():
    assert layer_map(nn.Conv2d(3, 8, 3, padding=100)) == CoordMap(Fraction(1), Fraction(-99))
    assert layer_map(nn.MaxPool2d(2, 2, ceil_mode=True)) == CoordMap(Fraction(2), Fraction(1, 2))
    assert layer_map(nn.ConvTranspose2d(4, 4, 64, stride=32)) == CoordMap(Fraction(1, 32), Fraction(-63, 64))
    assert layer_map(nn.ReLU()) == CoordMap() == layer_map(nn.BatchNorm2d(3)) == layer_map(nn.Dropout2d())


def test_coord_map_composes_in_order():
    outer, inner = CoordMap(Fraction(2), Fraction(1, 2)), CoordMap(Fraction(1), Fraction(3))
    assert outer.then(inner)(5) == outer(inner(5))
    layers = [nn.Conv2d(1, 1, 3, padding=100), nn.MaxPool2d(2, 2), nn.Conv2d(1, 1, 7)]
    assert coord_map(layers) == layer_map(layers[0]).then(layer_map(layers[1])).then(layer_map(layers[2]))
    assert coord_map(nn.Sequential(nn.Sequential(*layers[:2]), layers[2])) == coord_map(layers)
    assert str(coord_map(layers)) == "x = 2·i - 92.5"


def test_vgg16_maps_match_the_caffe_reference():
    backbone = vgg_backbone(narrow(VGG16), padding=100)
    assert coord_map(backbone[:3]) == CoordMap(Fraction(8), Fraction(-191, 2))   # pool3
    assert coord_map(backbone[:4]) == CoordMap(Fraction(16), Fraction(-183, 2))  # pool4
    assert coord_map(backbone) == CoordMap(Fraction(32), Fraction(-167, 2))      # pool5


def test_unsupported_layers_are_refused_by_name():
    with pytest.raises(ValueError, match="Linear"):
        layer_map(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="non-square"):
        layer_map(nn.Conv2d(1, 1, (3, 5)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

    with pytest.raises(ValueError, match="Block"):
        coord_map([Block()])


def test_crop_offset_and_its_refusals():
    assert crop_offset(CoordMap(Fraction(16), Fraction(-183, 2)), CoordMap(Fraction(16), Fraction(-23, 2))) == 5
    with pytest.raises(ValueError, match="scales"):
        crop_offset(CoordMap(Fraction(2)), CoordMap(Fraction(1)))
    with pytest.raises(ValueError, match="whole number"):
        crop_offset(CoordMap(), CoordMap(Fraction(1), Fraction(1, 2)))
    with pytest.raises(ValueError, match=r"too small to be cropped onto it \(pad the layers"):
        crop_offset(CoordMap(Fraction(1), Fraction(3)), CoordMap())
    with pytest.raises(ValueError, match=r"\(add padding\)"):
        crop_offset(CoordMap(Fraction(1), Fraction(3)), CoordMap(), fix="add padding")


@pytest.mark.parametrize("cls, crops", [(FCN32s, (19,)), (FCN16s, (5, 27)), (FCN8s, (5, 9, 31))])
def test_vgg16_crops_are_the_papers(cls, crops):
    assert cls(21, backbone=narrow(VGG16)).crops == crops
    assert geometry.fusion_geometry(*cls(21, backbone=narrow(VGG16)).geometry_paths()).crops == crops


def test_receptive_field_matches_a_gradient_measurement():
    torch.manual_seed(0)
    # average pools: a max pool passes the gradient to one pixel of its window only
    layers = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2, 2), nn.Conv2d(1, 1, 5),
                           nn.AvgPool2d(2, 2), nn.Conv2d(1, 1, 3, dilation=2))
    with torch.no_grad():
        for m in layers:
            if isinstance(m, nn.Conv2d):
                m.weight.uniform_(0.5, 1.0)
    x = torch.ones(1, 1, 64, 64, requires_grad=True)
    out = layers(x)
    out[0, 0, 2, 2].backward()
    seen = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
    assert geometry.receptive_field(layers) == int(seen.max() - seen.min() + 1) == 30


def test_receptive_field_of_vgg16():
    backbone = vgg_backbone(narrow(VGG16))
    assert geometry.receptive_field(backbone) == 212
    assert geometry.receptive_field([backbone, nn.Conv2d(1, 1, 7)]) == 404
    assert geometry.receptive_field([nn.Conv2d(1, 1, 3), bilinear_upsampler(1, 2)]) == 4


def test_output_size_agrees_with_torch():
    layers = [vgg_backbone(narrow(MINI), padding=3), nn.Conv2d(1, 1, 3), bilinear_upsampler(1, 4)]
    for size in range(70, 200, 7):
        expected = nn.Sequential(*layers)(torch.zeros(1, 3, size, size)).shape[-1]
        assert geometry.output_size(layers, size) == expected


def test_output_size_names_the_layer_that_empties():
    with pytest.raises(ValueError, match="Conv2d.*more padding"):
        geometry.output_size([vgg_backbone(narrow(VGG16), padding=1), nn.Conv2d(1, 1, 7)], 150)


def test_layer_table_rows():
    rows = geometry.layer_table(vgg_backbone(narrow(VGG16), padding=100), 224)
    pools = [r for r in rows if r["layer"] == "MaxPool2d"]
    assert [r["stride"] for r in pools] == ["2", "4", "8", "16", "32"]
    assert [r["size"] for r in pools] == [211, 106, 53, 27, 14]
    assert pools[-1]["receptive_field"] == 212 and pools[-1]["offset"] == "-83.5"


def test_fusion_geometry_checks_that_every_crop_fits():
    segments, upsamplers = FCN8s(21, backbone=narrow(VGG16)).geometry_paths()
    plan = geometry.fusion_geometry(segments, upsamplers, sizes=range(1, 65))
    assert plan.crops == (5, 9, 31) and len(plan.sizes) == 64
    assert all(crop + need <= have for cuts in plan.sizes.values() for crop, (have, need) in zip(plan.crops, cuts))
    # a 3x3 fc6 leaves no margin for the pool3 crop: no padding can make FCN-8s fit every size
    segments, upsamplers = FCN8s(21, backbone=replace(narrow(MINI), fc6_kernel=3, padding=200)).geometry_paths()
    assert geometry.fusion_geometry(segments, upsamplers).crops == (1, 1, 195)
    with pytest.raises(ValueError, match="crop 2 needs"):
        geometry.fusion_geometry(segments, upsamplers, sizes=range(1, 65))
    with pytest.raises(ValueError, match="upsamplers"):
        geometry.fusion_geometry(segments, upsamplers[:2])


def test_fusion_geometry_error_names_the_map_a_crop_cuts():
    # FCN-8s's second crop cuts pool3's score (stride 8); the message says which map it is
    segments, upsamplers = FCN8s(21, backbone=replace(narrow(MINI), fc6_kernel=3, padding=200)).geometry_paths()
    with pytest.raises(ValueError, match="crop 2 needs 1 \\+ 50 px of the stride-8 skip's score.*"
                                         "seldom helps; a larger fc6 kernel"):
        geometry.fusion_geometry(segments, upsamplers, sizes=range(1, 65))


def test_a_skip_crop_that_starts_inside_is_not_cured_by_padding():
    # a 1x1 fc6 leaves the upsampled score one pixel wider than pool4's at every padding
    for padding in (65, 200):
        with pytest.raises(ValueError, match="starts 1 px inside the target.*a larger fc6 kernel"):
            FCN16s(21, backbone=replace(narrow(MINI), fc6_kernel=1, padding=padding))
    # the final crop, to the input, is what the first layer's padding moves
    with pytest.raises(ValueError, match="increase the first layer's padding"):
        FCN32s(2, backbone="mini", padding=40)


def test_smallest_padding_why_100_and_not_81():
    model = FCN32s(21, backbone=narrow(VGG16))
    segments, upsamplers = model.geometry_paths()
    assert geometry.smallest_padding(segments, upsamplers) == 81  # crop >= 0 only
    assert geometry.smallest_padding(segments, upsamplers, range(1, 65)) == 97  # and a 1 px input works
    assert model.backbone[0][0].padding == (100, 100)  # restored
    for cls in (FCN16s, FCN8s):
        assert geometry.smallest_padding(*cls(21, backbone=narrow(VGG16)).geometry_paths(), range(1, 65)) <= 97


def test_smallest_padding_needs_a_first_convolution():
    with pytest.raises(ValueError, match="Conv2d"):
        geometry.smallest_padding([[nn.ReLU()]], [bilinear_upsampler(1, 1)])


def test_the_mini_layout_is_derived():
    fitted = fit_layout(MINI)
    assert (fitted.fc6_kernel, fitted.native_size) == (5, 160)  # 1 and 3 cannot fit FCN-8s
    with pytest.raises(ValueError):
        fit_layout(replace(MINI, fc6_kernel=3))
    for cls in (FCN32s, FCN16s, FCN8s):  # every size 1..2x the stride works, and so every size
        for layout in (fitted, VGG16):
            geometry.fusion_geometry(*cls(2, backbone=narrow(layout)).geometry_paths(), sizes=range(1, 300))


def test_leaves_flattens_nested_sequentials_in_order():
    inner = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU())
    pool = nn.MaxPool2d(2)
    assert geometry.leaves([inner, nn.Sequential(pool)]) == [inner[0], inner[1], pool]
    with pytest.raises(ValueError, match="as a list or an nn.Sequential"):
        geometry.leaves(nn.Transformer())


def test_interpolation_is_aligned_only_where_the_stride_divides_the_size():
    pool5 = coord_map(vgg_backbone(narrow(VGG16), padding=1))  # x = 32 i + 15.5
    assert geometry.interpolation_misalignment(pool5, 16, 512) == 0
    assert geometry.interpolation_misalignment(pool5, 16, 500) == pytest.approx(11.604)
    # by hand: output 483, the last one read below score pixel 15, is read at score coordinate
    # 483.5 * 16 / 500 - 0.5 = 14.972, input 32 * 14.972 + 15.5 = 494.604: 11.604 px from 483
    for size, n in ((224, 7), (500, 16), (512, 16)):  # output 0 copies score pixel 0, at 15.5
        assert geometry.interpolation_misalignment(pool5, n, size, region="border") == 15.5


def test_interpolation_misalignment_is_what_f_interpolate_does_to_a_ramp():
    import torch.nn.functional as F

    pool5 = coord_map(vgg_backbone(narrow(VGG16), padding=1))  # x = 32 i + 15.5
    cases = [(pool5, 7, 224), (pool5, 16, 500), (pool5, 16, 512), (pool5, 8, 256),
             (CoordMap(Fraction(8), Fraction(7, 2)), 63, 500), (CoordMap(Fraction(8)), 16, 128)]
    for score, n, size in cases:
        centres = torch.tensor([float(score(u)) for u in range(n)], dtype=torch.float64)
        read = F.interpolate(centres.view(1, 1, n, 1), size=(size, 1), mode="bilinear",
                             align_corners=False).flatten()
        error = (read - torch.arange(size, dtype=torch.float64)).abs()
        index = F.interpolate(torch.arange(n, dtype=torch.float64).view(1, 1, n, 1), size=(size, 1),
                              mode="bilinear", align_corners=False).flatten()
        clamped = (index <= 0) | (index >= n - 1)  # the score coordinate each output is read at
        measured = {"all": error.max(), "border": error[clamped].max(), "interior": error[~clamped].max()}
        for region, worst in measured.items():
            assert geometry.interpolation_misalignment(score, n, size, region=region) == \
                pytest.approx(float(worst), abs=1e-6), (n, size, region)
    with pytest.raises(ValueError, match="region"):
        geometry.interpolation_misalignment(pool5, 7, 224, region="edge")


def test_output_size_names_the_emptied_layer_by_the_name_it_is_given():
    model = FCN32s(21, backbone=replace(narrow(VGG16), padding=81))
    path = model.geometry_paths()[0]
    names = {layer: name.split(".")[-1] for name, layer in model.named_modules()}
    with pytest.raises(ValueError, match=r"after fc6 \(layer \d+, a Conv2d\)"):
        geometry.output_size(path, 1, names=names)
    with pytest.raises(ValueError, match=r"after layer \d+ \(Conv2d"):  # no names: index and repr
        geometry.output_size(path, 1)


def test_fused_spans_match_a_gradient_measurement():
    torch.manual_seed(0)
    # average pools and positive weights: every pixel a branch reads gets a gradient
    segments = [nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AvgPool2d(2, 2)),
                nn.Sequential(nn.Conv2d(1, 1, 3), nn.AvgPool2d(2, 2))]
    upsamplers = [bilinear_upsampler(1, 2), bilinear_upsampler(1, 4)]
    with torch.no_grad():
        for m in segments[0][0], segments[1][0]:
            m.weight.uniform_(0.5, 1.0)
    size = 64
    read = geometry.fused_spans(segments, upsamplers, size)
    crop = crop_offset(coord_map(segments[0]), coord_map(segments + upsamplers[:1]))
    assert read.grid == coord_map(segments + upsamplers[:1])  # the fused map's
    assert len(read.centres) == geometry.output_size(segments + upsamplers[:1], size)
    for i in (10, 11, 15):  # interior pixels: every span lies inside the image
        branches = (lambda x: segments[0](x)[0, 0, i + crop, i + crop],  # the cropped skip
                    lambda x: upsamplers[0](segments[1](segments[0](x)))[0, 0, i, i])
        for branch, spans in zip(branches, read.spans):
            x = torch.ones(1, 1, size, size, requires_grad=True)
            branch(x).backward()
            seen = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
            assert spans[i] == (float(seen.min()), float(seen.max()))
        first, last = read.spans[0][i]
        assert (first + last) / 2 == read.centres[i]  # the skip's own pixel: centred


def test_fused_spans_of_the_vgg16_fcns():
    for cls, widths in ((FCN32s, [404]), (FCN16s, [100, 436]), (FCN8s, [44, 116, 468])):
        read = geometry.fused_spans(*cls(21, backbone=narrow(VGG16)).geometry_paths(), 500)
        assert [max(b - a + 1 for a, b in spans) for spans in read.spans] == widths
    assert (read.centres[0], read.centres[-1], len(read.centres)) == (-23.5, 528.5, 70)
    with pytest.raises(ValueError, match="needs 3 upsamplers"):
        segments, upsamplers = FCN8s(21, backbone=narrow(VGG16)).geometry_paths()
        geometry.fused_spans(segments, upsamplers[:2], 500)
