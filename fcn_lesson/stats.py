"""Intervals and verdicts for comparisons of trained models, over seeds and over scenes.

A trained model's score on a validation set moves for two reasons: which
scenes the set happened to draw, and which seed trained the model (its first
weights, the order of its batches and, in the book's seeded rows, its
classifier). A difference between two models is a result only when its
interval covers both. :func:`compare` measures each:

1. **scenes**: a bootstrap. The validation scenes are drawn with replacement
   (4000 draws), every model scored on the same draw, so that a hard scene
   counts against both sides (paired by scene). A draw's score is computed
   from the drawn scenes' counts *summed* (mean IU is a ratio of sums over
   scenes, not a mean of per-scene IUs), which is why a bootstrap: such ratios
   have no simple formula, and it needs nothing but the per-scene counts
   (:mod:`fcn_lesson.evidence` stores them). Its variance, seeds held fixed,
   is the scene part.
2. **seeds**: the spread of the per-seed differences (paired: seed ``i`` of
   both sides shares its classifier and data order; otherwise the spreads of
   the two sides, Welch's way), over the number of seeds: the seed part.

The interval is the difference plus or minus Student's t quantile times the
square root of the two parts added, with the seeds' degrees of freedom
(``k - 1``): with three seeds the quantile is 4.30, not 1.96, because three
values say little about a spread, and a bootstrap over three seeds would
hide that. Two choices widen the interval and neither narrows it: t scales
the scene part too, which the bootstrap pins down, and each seed's difference
already carries that seed's own share of the scenes' noise, which the scene
part counts again; a verdict is harder to reach, not easier. With one seed
there is no seed part: the interval is the scene bootstrap's percentile
interval, each end moved out by its own Monte Carlo
error (so that no verdict hangs on the bootstrap's random draw), and the
verdict speaks for that seed alone
(``Verdict.seeds`` says so). The verdict: A ahead when the whole interval is
above zero, B ahead when below, otherwise not told apart at this budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Callable

import torch

__all__ = ["DRAWS", "LEVEL", "Estimate", "Verdict", "compare", "estimate", "overlap_tail", "sign_test",
           "t_quantile"]

#: Bootstrap draws of the scenes per interval: enough that an interval's ends move by well under 0.005
#: between two runs with different random draws.
DRAWS = 4000
#: The intervals' coverage.
LEVEL = 0.95

#: A score of a set of scenes, vectorised: summed counts ``draws x ...`` -> ``draws`` scores.
Score = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Estimate:
    """One arm's score: its mean over seeds and the interval of that mean over seeds and scenes."""

    name: str
    value: float
    low: float
    high: float
    seeds: int
    scenes: int

    def __str__(self) -> str:
        return (f"{self.name}: {self.value:.3f} [{self.low:.3f}, {self.high:.3f}] "
                f"({_sample(self.seeds, self.scenes)})")


@dataclass(frozen=True)
class Verdict:
    """The difference ``a - b`` of two arms' scores, its interval, and what that interval allows."""

    a: str
    b: str
    difference: float
    low: float
    high: float
    seeds: int  # seeds behind the smaller side (paired: the seeds both sides share)
    scenes: int
    paired: bool
    statistic: str = ""  # what is compared, where ``a`` and ``b`` do not say it

    @property
    def ahead(self) -> str | None:
        """The arm ahead (its name), or None when the interval holds zero: not told apart."""
        if self.low > 0:
            return self.a
        if self.high < 0:
            return self.b
        return None

    @property
    def outcome(self) -> str:
        """The verdict in words: "<a> ahead", "<b> ahead" or "not told apart"."""
        return f"{self.ahead} ahead" if self.ahead else "not told apart"

    def __str__(self) -> str:
        pairing = "paired" if self.paired else "unpaired"
        what = f", {self.statistic}" if self.statistic else ""
        return (f"{self.a} - {self.b}{what}: {self.difference:+.3f} [{self.low:+.3f}, {self.high:+.3f}], "
                f"{self.outcome} ({_sample(self.seeds, self.scenes, pairing)})")


def _sample(seeds: int, scenes: int, pairing: str = "") -> str:
    if seeds == 1:
        return f"one seed: the interval covers the scenes, not the seed; {scenes} scenes"
    return f"{seeds} {pairing + ' ' if pairing else ''}seeds, {scenes} scenes"


@cache  # the same draws for every comparison of one size: made once (callers only read them)
def _scene_weights(scenes: int, draws: int, seed: int) -> torch.Tensor:
    """``draws x scenes``: how often each scene is in each bootstrap draw of ``scenes`` scenes."""
    picks = torch.randint(scenes, (draws, scenes), generator=torch.Generator().manual_seed(seed))
    weights = torch.zeros(draws, scenes, dtype=torch.float64)
    return weights.scatter_add_(1, picks, torch.ones_like(weights))


def _per_seed(counts: torch.Tensor, score: Score, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each seed's score on all scenes (``seeds``) and on each draw of scenes (``seeds x draws``)."""
    seeds, scenes = counts.shape[:2]
    flat = counts.reshape(seeds, scenes, -1).double()
    whole = score(flat.sum(1).reshape(seeds, *counts.shape[2:]))
    drawn = torch.einsum("ds,nsk->ndk", weights, flat)
    return whole, score(drawn.reshape(-1, *counts.shape[2:])).reshape(seeds, -1)


def _check(counts: torch.Tensor, name: str) -> torch.Tensor:
    if counts.dim() < 3 or counts.shape[0] < 1 or counts.shape[1] < 2:
        raise ValueError(f"{name}: pass per-scene counts as seeds x scenes x ..., with at least one "
                         f"seed and two scenes; got shape {tuple(counts.shape)}")
    return counts


def _percentiles(values: torch.Tensor, level: float) -> tuple[float, float]:
    """The bootstrap's percentile interval, each end moved out by its own Monte Carlo error: to the
    order statistic a 95 % binomial band puts below (above) the end's rank. Another draw of the
    bootstrap moves an end by about that much, so a verdict read from these ends does not hang on
    which draw was made."""
    tail, ordered = (1 - level) / 2, values.sort().values
    slack = 1.96 * math.sqrt(len(values) * tail * (1 - tail))
    low_rank = max(0, math.floor(len(values) * tail - slack))
    return float(ordered[low_rank]), float(ordered[len(values) - 1 - low_rank])


def sign_test(only_a: int, only_b: int) -> float:
    """The exact two-sided sign test of a paired comparison: the probability that ``only_a + only_b``
    fair coin tosses split at least as unevenly as ``only_a`` against ``only_b``.

    For two models scored on the same items, ``only_a`` counts the items only A gets wrong and
    ``only_b`` those only B gets wrong; items both get right or both wrong say nothing about which
    is better. A small probability says the uneven split is unlikely if the two are equally good."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"counts must be >= 0, got {only_a} and {only_b}")
    total = only_a + only_b
    tail = sum(math.comb(total, k) for k in range(min(only_a, only_b) + 1)) / 2 ** total
    return min(1.0, 2 * tail)


def overlap_tail(both: int, wrong_a: int, wrong_b: int, total: int) -> float:
    """The probability that two models which err independently share at least ``both`` mistakes,
    given that they make ``wrong_a`` and ``wrong_b`` of them on ``total`` items: the upper tail of
    the hypergeometric distribution (B's mistakes drawn at random among the items), the one-sided
    Fisher exact test. Its mean is ``wrong_a * wrong_b / total``."""
    if not 0 <= wrong_a <= total or not 0 <= wrong_b <= total or both < 0:
        raise ValueError(f"need 0 <= wrong_a, wrong_b <= total and both >= 0, got {both}, {wrong_a}, "
                         f"{wrong_b}, {total}")
    ways = math.comb(total, wrong_b)
    return sum(math.comb(wrong_a, k) * math.comb(total - wrong_a, wrong_b - k)
               for k in range(both, min(wrong_a, wrong_b) + 1)) / ways


def t_quantile(probability: float, freedom: float) -> float:
    """Student's t quantile with ``freedom`` degrees of freedom (its CDF integrated numerically,
    then inverted by bisection: torch has no t quantile, and this module needs nothing else)."""
    log_norm = math.lgamma((freedom + 1) / 2) - math.lgamma(freedom / 2) - 0.5 * math.log(freedom * math.pi)

    def cdf(x: float) -> float:  # Simpson's rule from 0 to x, the density being symmetric
        steps = 2000
        grid = torch.linspace(0, x, steps + 1, dtype=torch.float64)
        density = torch.exp(log_norm - (freedom + 1) / 2 * torch.log1p(grid ** 2 / freedom))
        weights = torch.ones(steps + 1, dtype=torch.float64)
        weights[1:-1:2], weights[2:-1:2] = 4, 2
        return 0.5 + float((weights * density).sum()) * x / (3 * steps)

    low, high = 0.0, 1000.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return (low + high) / 2


def _interval(value: float, scene_draws: torch.Tensor, seed_variance: float | None, freedom: float,
              level: float) -> tuple[float, float]:
    """``value`` plus or minus t times the root of the scene and seed variances; with no seed part (one
    seed), the scene bootstrap's percentile interval."""
    if seed_variance is None:
        return _percentiles(scene_draws, level)
    half = t_quantile((1 + level) / 2, freedom) * math.sqrt(float(scene_draws.var()) + seed_variance)
    return value - half, value + half


def estimate(name: str, counts: torch.Tensor, score: Score, *, draws: int = DRAWS, level: float = LEVEL,
             seed: int = 0) -> Estimate:
    """``name``'s score (the mean over its seeds) from ``counts`` (``seeds x scenes x ...``, additive
    over scenes), with its interval over seeds and scenes."""
    counts = _check(counts, name)
    weights = _scene_weights(counts.shape[1], draws, seed)
    whole, drawn = _per_seed(counts, score, weights)
    k = len(whole)
    spread = float(whole.var()) / k if k > 1 else None
    value = float(whole.mean())
    return Estimate(name, value, *_interval(value, drawn.mean(0), spread, k - 1, level), k, counts.shape[1])


def compare(a: str, counts_a: torch.Tensor, b: str, counts_b: torch.Tensor, score: Score | tuple[Score, Score],
            *, paired: bool, statistic: str = "", draws: int = DRAWS, level: float = LEVEL,
            seed: int = 0) -> Verdict:
    """The verdict on ``a``'s score minus ``b``'s, from their per-scene counts (``seeds x scenes x ...``,
    the same scenes in the same order). ``score`` may be a pair: ``a``'s and ``b``'s (two scores of
    one model, for instance). ``paired``: seed ``i`` of ``a`` and seed ``i`` of ``b`` were trained
    from the same seed (same classifier, same data order), so their difference is taken seed by seed."""
    score_a, score_b = score if isinstance(score, tuple) else (score, score)
    counts_a, counts_b = _check(counts_a, a), _check(counts_b, b)
    if counts_a.shape[1:] != counts_b.shape[1:]:
        raise ValueError(f"{a} and {b} were not counted on the same scenes in the same way: "
                         f"{tuple(counts_a.shape[1:])} against {tuple(counts_b.shape[1:])}")
    if paired and len(counts_a) != len(counts_b):
        raise ValueError(f"a paired comparison needs the same seeds on both sides: {a} has "
                         f"{len(counts_a)}, {b} {len(counts_b)}")
    weights = _scene_weights(counts_a.shape[1], draws, seed)
    (whole_a, drawn_a), (whole_b, drawn_b) = (_per_seed(counts_a, score_a, weights),
                                              _per_seed(counts_b, score_b, weights))
    difference = float(whole_a.mean() - whole_b.mean())
    scene_draws = drawn_a.mean(0) - drawn_b.mean(0)
    k_a, k_b = len(whole_a), len(whole_b)
    if paired:
        spread = float((whole_a - whole_b).var()) / k_a if k_a > 1 else None
        freedom = k_a - 1
    elif min(k_a, k_b) > 1:  # Welch: each side's spread, and Satterthwaite's degrees of freedom
        parts = float(whole_a.var()) / k_a, float(whole_b.var()) / k_b
        spread = sum(parts)
        freedom = spread ** 2 / (parts[0] ** 2 / (k_a - 1) + parts[1] ** 2 / (k_b - 1)) if spread else 1
    else:
        spread, freedom = None, 0
    return Verdict(a, b, difference, *_interval(difference, scene_draws, spread, freedom, level),
                   min(k_a, k_b), counts_a.shape[1], paired, statistic)
