from dataclasses import replace

import pytest
import torch

from fcn_lesson import geometry
from fcn_lesson.models import (FCN8s, FCN16s, FCN32s, MINI, VGG16, Layout, VGGClassifier, fit_layout, score_parts,
                               uncropped_score, vgg_backbone)
from fcn_lesson.registry import MODELS, build_model, model_spec

NARROW_VGG16 = replace(VGG16, widths=(2,) * 5, fc_width=4)


@pytest.mark.parametrize("cls", [FCN32s, FCN16s, FCN8s])
def test_output_has_the_input_size(cls):
    model = cls(3, backbone="mini").eval()
    for h, w in [(1, 1), (1, 7), (31, 33), (64, 65), (97, 128)]:
        with torch.no_grad():
            assert model(torch.randn(2, 3, h, w)).shape == (2, 3, h, w)
    vgg_geometry = cls(3, backbone=NARROW_VGG16).eval()
    for h, w in [(1, 2), (224, 224), (100, 37)]:
        with torch.no_grad():
            assert vgg_geometry(torch.randn(1, 3, h, w)).shape == (1, 3, h, w)


def test_layouts():
    assert VGG16.native_size == 224 and VGG16.padding == 100
    assert fit_layout(MINI).padding == FCN8s(2, backbone="mini").padding
    assert len([m for m in FCN8s(2).backbone.modules() if isinstance(m, torch.nn.Conv2d)]) == 13
    with pytest.raises(ValueError, match="five"):
        Layout(widths=(8, 8), convs=(1, 1), fc_width=8)
    backbone = vgg_backbone(MINI, padding=7)
    assert backbone.block1.conv1_1.padding == (7, 7) and backbone.block2.conv2_1.padding == (1, 1)


def test_fit_layout_keeps_odd_kernels_by_choice_not_need():
    """The mini network's fc6 kernel is 5 (the first odd one that fits); 3 cannot fit,
    and the even 4 would (padding 49, whole crops), as the docstring says."""
    assert (fit_layout(MINI).fc6_kernel, fit_layout(MINI).padding) == (5, 65)
    with pytest.raises(ValueError):
        fit_layout(replace(MINI, fc6_kernel=3))
    even = fit_layout(replace(MINI, fc6_kernel=4))
    assert even.padding == 49 and FCN8s(2, backbone=even).crops == (2, 3, 28)


def test_bad_arguments_and_inputs_are_named():
    with pytest.raises(ValueError, match="num_classes must be a whole number >= 2"):
        FCN8s(1)
    with pytest.raises(ValueError, match="unknown backbone 'vgg19'"):
        FCN8s(2, backbone="vgg19")
    model = FCN32s(2, backbone="mini")
    with pytest.raises(ValueError, match=r"N x 3 x H x W, got \(3, 32, 32\)"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match=r"got \(1, 1, 32, 32\)"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="increase the first layer's padding"):
        FCN32s(2, backbone="mini", padding=40)
    small = FCN32s(2, backbone="mini", padding=50)
    with pytest.raises(ValueError, match="padding 50.* cannot take a side of 1 px.*more padding"):
        small(torch.randn(1, 3, 1, 40))


@pytest.mark.parametrize("model", [FCN8s(2, backbone="mini"), VGGClassifier(2, backbone="mini")],
                         ids=["fcn8s", "classifier"])
def test_images_of_the_wrong_type_are_refused_with_the_fix(model):
    size = 32 * model.layout.fc6_kernel
    with pytest.raises(ValueError, match=r"got torch.uint8: convert pixels with data.eval_transforms\(\)"):
        model(torch.zeros(1, 3, size, size, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"images are torch.float64 but the weights are torch.float32"):
        model(torch.zeros(1, 3, size, size, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision: the layers cast for themselves
        model.eval()(torch.zeros(1, 3, size, size, dtype=torch.bfloat16))


@pytest.mark.parametrize("model", [FCN8s(3, backbone="mini", at_once=True, learnable_upsampling=True),
                                   FCN32s(4, backbone=NARROW_VGG16), VGGClassifier(5, backbone="mini")],
                         ids=["fcn8s", "fcn32s", "classifier"])
def test_a_model_spec_rebuilds_the_same_model(model):
    rebuilt = build_model(model_spec(model))
    assert type(rebuilt) is type(model) and model_spec(rebuilt) == model_spec(model)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert [p.requires_grad for p in rebuilt.parameters()] == [p.requires_grad for p in model.parameters()]
    with pytest.raises(ValueError, match="not a model description"):
        build_model({"name": "fcn4s"})


def test_staged_models_start_from_the_coarser_weights_and_add_nothing_new():
    torch.manual_seed(0)
    fcn32 = FCN32s(4, backbone="mini").eval()
    with torch.no_grad():
        for p in fcn32.parameters():
            p.add_(0.1 * torch.randn_like(p))  # stands in for training
    fcn16 = FCN16s.from_coarser(fcn32).eval()
    fcn8 = FCN8s.from_coarser(fcn16).eval()
    for name, tensor in fcn32.state_dict().items():
        if not name.startswith("upscore"):
            assert torch.equal(fcn16.state_dict()[name], tensor) and torch.equal(fcn8.state_dict()[name], tensor)
    x = torch.randn(1, 3, 200, 180)
    with torch.no_grad():
        score = fcn32.score_fr(fcn32.head(fcn32.backbone(x)))
        c = fcn16.crops[-1]
        two_steps = fcn16.upscore(fcn16.upscore2(score))[..., c:c + 200, c:c + 180]
        out16, out8 = fcn16(x), fcn8(x)
    # the zero pool4 score adds nothing: FCN-16s is FCN-32s's score, upsampled 2x then 16x
    torch.testing.assert_close(out16, two_steps)
    inner = (..., slice(40, -40), slice(40, -40))
    assert torch.corrcoef(torch.stack([out16[inner].flatten(), out8[inner].flatten()]))[0, 1] > 0.99


def test_from_coarser_checks_the_order():
    with pytest.raises(ValueError, match="FCN8s starts from a trained FCN16s, got FCN32s"):
        FCN8s.from_coarser(FCN32s(2, backbone="mini"))
    with pytest.raises(ValueError, match="FCN16s starts from a trained FCN32s"):
        FCN16s.from_coarser(FCN16s(2, backbone="mini"))


def test_at_once_scales_the_pool_features_by_the_papers_factors():
    staged, at_once = FCN8s(2, backbone="mini").eval(), FCN8s(2, backbone="mini", at_once=True).eval()
    assert staged.skip_scales == (1.0, 1.0) and at_once.skip_scales == (0.01, 0.0001)
    at_once.load_state_dict(staged.state_dict())
    seen = {}
    for model in (staged, at_once):
        for name in ("score_pool4", "score_pool3"):
            getattr(model, name).register_forward_hook(
                lambda layer, inputs, output, key=(model.at_once, name): seen.__setitem__(key, inputs[0]))
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        staged(x), at_once(x)
    assert torch.allclose(seen[True, "score_pool4"], 0.01 * seen[False, "score_pool4"])
    assert torch.allclose(seen[True, "score_pool3"], 0.0001 * seen[False, "score_pool3"])


def test_from_coarser_keeps_the_at_once_scaling_it_is_asked_for():
    sixteen = FCN16s.from_coarser(FCN32s(2, backbone="mini"), at_once=True)
    assert sixteen.at_once and sixteen.skip_scales == (0.01,)


def test_upsampling_is_fixed_by_default():
    fixed, learned = FCN8s(2, backbone="mini"), FCN8s(2, backbone="mini", learnable_upsampling=True)
    names = ("upscore2", "upscore_pool4", "upscore")
    assert not any(getattr(fixed, n).weight.requires_grad for n in names)
    assert all(getattr(learned, n).weight.requires_grad for n in names)


def test_score_layers_start_at_zero():
    model = FCN8s(3, backbone="mini")
    for layer in (model.score_fr, model.score_pool4, model.score_pool3):
        assert layer.weight.abs().sum() == 0 and layer.bias.abs().sum() == 0


def test_classifier_reads_its_native_size_only():
    from fcn_lesson.models import VGGClassifier

    classifier = VGGClassifier(6).eval()
    size = classifier.layout.native_size
    with torch.no_grad():
        assert classifier(torch.randn(2, 3, size, size)).shape == (2, 6)
    with pytest.raises(ValueError, match=f"N x 3 x {size} x {size}.*convolutionalize"):
        classifier(torch.randn(2, 3, size + 32, size))
    with pytest.raises(ValueError, match="a whole number >= 2"):
        VGGClassifier(1)


def test_features_are_the_five_pool_maps_forward_reads():
    model = FCN8s(4, backbone="mini").eval()
    x = torch.randn(1, 3, 64, 64)
    pools = model.features(x)
    assert len(pools) == 5 and [p.shape[1] for p in pools] == list(model.layout.widths)
    assert [p.shape[-1] for p in pools] == [geometry.output_size(list(model.backbone)[:i + 1], 64) for i in range(5)]


def test_upsampling_stays_float32_under_mixed_precision():
    model = FCN32s(3, backbone="mini").eval()
    torch.nn.init.normal_(model.score_fr.weight)
    x = torch.randn(1, 3, 40, 40)
    seen = []
    model.upscore.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0].dtype, output.dtype)))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(x)
    assert seen == [(torch.float32, torch.float32)] and mixed.dtype == torch.float32
    with torch.no_grad():
        assert (mixed - model(x)).abs().max() < 0.1 * model(x).abs().max()  # bfloat16 features, same scores


TINY = Layout(widths=(2, 2, 2, 2, 4), convs=(1, 1, 1, 1, 1), fc_width=2, batch_norm=True)  # the dilated head narrows 4x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_runs_in_its_weights_type(name, dtype):
    model = MODELS[name](3, backbone=TINY).to(dtype).eval()
    side = model.layout.native_size if name == "classifier" else 40
    with torch.no_grad():
        out = model(torch.randn(2, 3, side, side, dtype=dtype))
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert out.shape == ((2, 3) if name == "classifier" else (2, 3, side, side))


def test_a_float64_fcn8s_passes_gradcheck():
    """Gradients by autograd equal finite differences: the whole network, crops and upsamplers included."""
    torch.manual_seed(0)
    model = FCN8s(2, backbone=TINY).double().eval()
    for layer in (model.score_fr, model.score_pool4, model.score_pool3):  # zero at first: make them count
        torch.nn.init.normal_(layer.weight)
    image = torch.randn(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (image,), eps=1e-6, atol=1e-5)


def test_under_autocast_the_fcns_still_upsample_in_float32():
    model = FCN8s(3, backbone="mini").eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(torch.randn(1, 3, 40, 40)).dtype == torch.float32


@pytest.mark.parametrize("num_classes", ["21", 21.0, True, 1, -3])
def test_a_class_count_that_is_not_a_whole_number_from_2_is_refused_by_every_model(num_classes):
    for cls in MODELS.values():
        with pytest.raises(ValueError, match="num_classes must be a whole number >= 2"):
            cls(num_classes, backbone="mini")


def test_score_weights_shows_the_coarse_band_at_the_border_and_the_skips_at_full_weight():
    """Chapter 4's measurement: only upscore2's band reaches the image; the score layers are restored."""
    from fcn_lesson.models import score_weights

    model = FCN16s(2, backbone="mini").eval()
    with torch.no_grad():
        model.score_fr.bias.copy_(torch.tensor([0.5, -0.5]))
    before = {name: p.clone() for name, p in model.named_parameters()}
    rows = score_weights(model, 64)
    assert list(rows) == ["score_fr", "score_pool4"]
    coarse, skip = rows["score_fr"], rows["score_pool4"]
    assert coarse.shape == (64,) and coarse[0] < 1 and coarse[-1] < 1
    assert torch.allclose(coarse[32], torch.tensor(1.0)) and torch.allclose(skip, torch.ones(64))
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    assert list(score_weights(FCN32s(2, backbone="mini").eval(), 64)) == ["score_fr"]


def test_score_parts_split_the_output_into_one_term_per_score_layer():
    torch.manual_seed(0)
    model = FCN8s(3, backbone=MINI).eval()
    with torch.no_grad():
        for layer in (model.score_fr, model.score_pool4, model.score_pool3):
            layer.weight.normal_(0, 0.1)
            layer.bias.normal_()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(3, 3, 48, 48)
    parts = score_parts(model, images, batch_size=2)
    with torch.no_grad():
        whole = model(images)
    assert len(parts) == 3 and all(part.abs().sum() > 0 for part in parts)
    torch.testing.assert_close(sum(parts), whole, atol=1e-5, rtol=1e-5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # restored
    with torch.no_grad():
        model.score_pool3.weight.zero_()
        model.score_pool3.bias.zero_()
        torch.testing.assert_close(model(images), parts[0] + parts[1], atol=1e-5, rtol=1e-5)
    assert len(score_parts(FCN32s(3, backbone=MINI).eval(), images)) == 1
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        score_parts(model, images[0])


def test_uncropped_score_holds_the_output_at_every_final_crop():
    torch.manual_seed(0)
    model = FCN16s(3, backbone=MINI).eval()
    images = torch.randn(2, 3, 40, 40)
    full = uncropped_score(model, images, batch_size=1)
    crop = model.crops[-1]
    with torch.no_grad():
        torch.testing.assert_close(full[..., crop:crop + 40, crop:crop + 40], model(images))
        model.crops = model.crops[:-1] + (crop - 2,)
        torch.testing.assert_close(full[..., crop - 2:crop + 38, crop - 2:crop + 38], model(images))
    assert full.shape[-1] > crop + 40 and not model.upscore._forward_hooks  # the hook is gone
