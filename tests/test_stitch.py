"""Shift-and-stitch equals the rarefied (dilated) network, away from a border band."""
import pytest
import torch
from torch import nn

from fcn_lesson import geometry, stitch


def small_net(padding=1):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=padding), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(6, 6, 3, padding=padding), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(6, 6, 3, padding=padding), nn.ReLU(), nn.Conv2d(6, 4, 1)).eval()


def test_shift_and_stitch_equals_the_rarefied_network_away_from_the_borders():
    net = small_net()
    image = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        stitched = stitch.shift_and_stitch(net, image, 4)
        dense = stitch.rarefy(net)(image)
    assert stitched.shape == (2, 4, 48, 64)
    margin = geometry.receptive_field(net) // 2  # 9 px: as far as the zero padding reaches in
    inside = (slice(None), slice(None), slice(margin, dense.shape[2] - margin),
              slice(margin, dense.shape[3] - margin))
    torch.testing.assert_close(stitched[inside], dense[inside], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(stitched[..., :2, :2], dense[..., :2, :2], atol=1e-3)  # the border differs


def test_without_padding_they_agree_everywhere_the_dilated_network_answers():
    net = small_net(padding=0)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        stitched, dense = stitch.shift_and_stitch(net, image, 4), stitch.rarefy(net)(image)
    # the stitched map's last answers read the zeros shifted in at the bottom and right
    valid = dense.shape[2] - 4
    torch.testing.assert_close(stitched[..., :valid, :valid], dense[..., :valid, :valid],
                               rtol=1e-5, atol=1e-5)


def test_rarefy_removes_every_stride_and_dilates_what_follows():
    net = small_net()
    rarefied = stitch.rarefy(net)
    assert geometry.coord_map(rarefied).scale == 1 and geometry.coord_map(net).scale == 4
    convs = [m for m in rarefied if isinstance(m, nn.Conv2d)]
    assert [c.dilation[0] for c in convs] == [1, 2, 4, 4]
    assert [c.padding[0] for c in convs] == [1, 2, 4, 0]
    pools = [m for m in rarefied if isinstance(m, nn.MaxPool2d)]
    assert [(p.stride, p.dilation) for p in pools] == [(1, 1), (1, 2)]
    assert all(m.stride in (2, (1, 1)) for m in net if isinstance(m, (nn.MaxPool2d, nn.Conv2d)))  # untouched


def test_refusals_say_what_to_change():
    net = small_net()
    with pytest.raises(ValueError, match="output stride is 4, not 2"):
        stitch.shift_and_stitch(net, torch.randn(1, 3, 16, 16), 2)
    with pytest.raises(ValueError, match="multiples of 4"):
        stitch.shift_and_stitch(net, torch.randn(1, 3, 18, 16), 4)
    with pytest.raises(ValueError, match="N x C x H x W"):
        stitch.shift_and_stitch(net, torch.randn(3, 16, 16), 4)
    with pytest.raises(ValueError, match="no dilation"):
        stitch.rarefy(nn.Sequential(nn.Conv2d(3, 3, 3), nn.AvgPool2d(2)))
    with pytest.raises(ValueError, match="ceil mode"):
        stitch.rarefy(nn.Sequential(nn.Conv2d(3, 3, 3), nn.MaxPool2d(2, ceil_mode=True)))


def test_costs_counts_operations_and_keeps_the_best_time():
    net = small_net()
    image = torch.randn(1, 3, 32, 32)
    calls = []

    def coarse():
        calls.append("coarse")
        return net(image)

    result = stitch.costs({"coarse": coarse, "stitched": lambda: stitch.shift_and_stitch(net, image, 4)},
                          rounds=2)
    assert list(result) == ["coarse", "stitched"] and calls == ["coarse"] * 3  # counted once, timed twice
    (coarse_flops, coarse_seconds), (stitched_flops, _) = result.values()
    assert stitched_flops == 16 * coarse_flops > 0 and coarse_seconds > 0
    with pytest.raises(ValueError, match="at least once"):
        stitch.costs({"coarse": coarse}, rounds=0)

