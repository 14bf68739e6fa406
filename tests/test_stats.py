"""Intervals over seeds and scenes: point estimates by hand, verdicts on clear and on null
differences, what pairing removes, Student's t for few seeds, and the refusals."""
import pytest
import torch

from fcn_lesson import stats


def _right(counts: torch.Tensor) -> torch.Tensor:
    """Accuracy from (right, pixels) counts."""
    return counts[..., 0] / counts[..., 1]


def _scenes(accuracies, pixels=100):
    """seeds x scenes x 2 counts: scene j of seed i has accuracies[i][j] of its pixels right."""
    right = (torch.as_tensor(accuracies, dtype=torch.float64) * pixels).round()
    return torch.stack([right, torch.full_like(right, pixels)], -1)


def test_estimate_is_the_mean_over_seeds_of_the_score_of_summed_scenes():
    counts = _scenes([[0.5, 1.0, 0.9], [0.2, 0.4, 0.6]], pixels=10)
    counts[0, 0, 1] = 30  # a larger first scene: the ratio of sums is not the mean of ratios
    counts[0, 0, 0] = 15
    found = stats.estimate("a", counts, _right)
    assert found.value == pytest.approx(((15 + 10 + 9) / 50 + 12 / 30) / 2)
    assert found.low <= found.value <= found.high and (found.seeds, found.scenes) == (2, 3)


def test_a_clear_difference_is_a_verdict_and_a_null_one_is_not():
    generator = torch.Generator().manual_seed(1)
    noise = torch.rand(3, 200, generator=generator) * 0.2
    better, worse = _scenes(0.7 + noise), _scenes(0.5 + noise)
    clear = stats.compare("better", better, "worse", worse, _right, paired=True)
    assert clear.ahead == "better" and clear.outcome == "better ahead"
    assert clear.low > 0.15 and clear.difference == pytest.approx(0.2, abs=0.01)
    assert stats.compare("worse", worse, "better", better, _right, paired=True).ahead == "better"
    null = stats.compare("a", better, "b", better.clone(), _right, paired=True)
    assert null.ahead is None and null.outcome == "not told apart" and null.low <= 0 <= null.high


def test_pairing_removes_what_both_sides_share():
    generator = torch.Generator().manual_seed(2)
    seed_effect = torch.tensor([[0.0], [0.15], [-0.15]])  # each seed moves both arms alike
    scene_effect = torch.rand(1, 100, generator=generator) * 0.2
    a = _scenes(0.6 + seed_effect + scene_effect)
    b = _scenes(0.57 + seed_effect + scene_effect)
    paired = stats.compare("a", a, "b", b, _right, paired=True)
    unpaired = stats.compare("a", a, "b", b, _right, paired=False)
    assert paired.ahead == "a" and unpaired.ahead is None
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 5


def test_two_scores_of_one_model_and_one_seed_are_said_so():
    counts = _scenes([[0.9, 0.8, 0.95, 0.9]])
    verdict = stats.compare("a", counts, "a again", counts, (_right, lambda c: _right(c) - 0.5), paired=True)
    assert verdict.ahead == "a" and verdict.difference == pytest.approx(0.5)
    assert "one seed" in str(verdict) and verdict.seeds == 1


def test_the_same_draws_give_the_same_verdict():
    counts = _scenes(torch.rand(2, 30, generator=torch.Generator().manual_seed(3)).tolist())
    first = stats.compare("a", counts, "b", counts.flip(1), _right, paired=True)
    assert first == stats.compare("a", counts, "b", counts.flip(1), _right, paired=True)


def test_mismatched_counts_are_refused_naming_both_arms():
    with pytest.raises(ValueError, match="a and b were not counted on the same scenes"):
        stats.compare("a", _scenes([[0.5] * 4]), "b", _scenes([[0.5] * 5]), _right, paired=False)
    with pytest.raises(ValueError, match="same seeds on both sides: a has 2, b 1"):
        stats.compare("a", _scenes([[0.5] * 4] * 2), "b", _scenes([[0.5] * 4]), _right, paired=True)
    with pytest.raises(ValueError, match="seeds x scenes"):
        stats.estimate("a", torch.ones(3, 2), _right)


def test_t_quantiles_are_students():
    assert stats.t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-3)
    assert stats.t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-3)
    assert stats.t_quantile(0.975, 10_000) == pytest.approx(1.96, abs=1e-3)


def test_three_seeds_that_agree_in_sign_are_not_enough_when_they_spread():
    """Per-seed differences +0.02, +0.07, +0.05 (the same scenes): a bootstrap over three seeds would
    call it; Student's t with two degrees of freedom does not."""
    base = torch.full((3, 200), 0.5, dtype=torch.float64)
    shift = torch.tensor([[0.02], [0.07], [0.05]], dtype=torch.float64)
    verdict = stats.compare("a", _scenes(base + shift), "b", _scenes(base), _right, paired=True)
    assert verdict.ahead is None and verdict.low < 0 < verdict.difference
    spread = torch.tensor([0.02, 0.07, 0.05]).std().item()
    assert verdict.high - verdict.difference == pytest.approx(4.3027 * spread / 3 ** 0.5, rel=0.05)


def test_sign_test_is_the_two_sided_binomial_tail_of_the_uneven_split():
    assert stats.sign_test(0, 3) == pytest.approx(2 / 8)  # 0 of 3 or 3 of 3: 2 splits of 8
    assert stats.sign_test(5, 5) == 1.0 and stats.sign_test(0, 0) == 1.0
    assert stats.sign_test(30, 52) == pytest.approx(stats.sign_test(52, 30))
    assert 0.019 < stats.sign_test(30, 52) < 0.021
    with pytest.raises(ValueError, match=">= 0"):
        stats.sign_test(-1, 2)


def test_overlap_tail_is_the_hypergeometric_upper_tail():
    import itertools
    # 5 items, A wrong on the first 2, B wrong on 2 drawn at random: 10 draws, 1 shares both
    draws = list(itertools.combinations(range(5), 2))
    shared = [len({0, 1} & set(draw)) for draw in draws]
    for both in range(4):
        assert stats.overlap_tail(both, 2, 2, 5) == pytest.approx(
            sum(s >= both for s in shared) / len(draws))
    assert stats.overlap_tail(0, 40, 62, 600) == pytest.approx(1.0)
    assert stats.overlap_tail(10, 40, 62, 600) < 0.01  # 4.1 expected, 10 found
    with pytest.raises(ValueError):
        stats.overlap_tail(1, 7, 2, 5)


def test_percentile_ends_move_out_by_their_monte_carlo_error():
    """4000 draws: the 2.5 % rank is 100, give or take 1.96 x sqrt(4000 x 0.025 x 0.975) = 19.4 ranks."""
    low, high = stats._percentiles(torch.arange(4000.0)[torch.randperm(4000)], 0.95)
    assert (low, high) == (80.0, 3919.0)
