"""Intervals and verdicts for comparisons of trained models, over seeds and over scenes.

A trained model's score on a validation set moves for two reasons: which
scenes the set happened to draw, and which seed trained the model (its first
weights, the order of its batches and, in the book's seeded rows, its
classifier). A difference between two models is a result only when its
interval covers both. :func:`compare` draws both, in a two-level bootstrap:

1. **scenes**: the validation scenes are drawn with replacement, and every
   model is scored on the same draw, so that a hard scene counts against both
   sides (paired by scene);
2. **seeds**: the seeds are drawn with replacement, the same draw for both
   sides where both were trained from the same seeds (paired by seed: the same
   classifier, the same data order), a draw for each side otherwise.

A draw's score is computed from the drawn scenes' counts *summed* (mean IU is
a ratio of sums over scenes, not a mean of per-scene IUs), and averaged over
the drawn seeds. The percentiles of the draws' differences give the interval
(95 % by default), and the interval gives the verdict: A ahead when it lies
wholly above zero, B ahead when wholly below, otherwise not told apart at
this budget.

Why a bootstrap: the scores are ratios of sums whose sampling distribution
has no simple formula, and the bootstrap needs nothing but the per-scene
counts (:mod:`fcn_lesson.evidence` stores them). Its limits travel with every
:class:`Verdict`: with ``k`` seeds the seed level sees only ``k`` values, and
its spread is the plug-in one, too narrow by a factor of about
``sqrt((k - 1) / k)``; with one seed it cannot see seed variation at all, and
the verdict speaks for that seed alone (``Verdict.seeds``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["DRAWS", "LEVEL", "Estimate", "Verdict", "compare", "estimate"]

#: Bootstrap draws per interval: enough that the 2.5th percentile moves by well under 0.005 between
#: two runs with different random draws.
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


def _scene_weights(scenes: int, draws: int, generator: torch.Generator) -> torch.Tensor:
    """``draws x scenes``: how often each scene is in each bootstrap draw of ``scenes`` scenes."""
    picks = torch.randint(scenes, (draws, scenes), generator=generator)
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


def _interval(values: torch.Tensor, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = torch.quantile(values, torch.tensor([tail, 1 - tail], dtype=values.dtype)).tolist()
    return low, high


def estimate(name: str, counts: torch.Tensor, score: Score, *, draws: int = DRAWS, level: float = LEVEL,
             seed: int = 0) -> Estimate:
    """``name``'s score (the mean over its seeds) from ``counts`` (``seeds x scenes x ...``, additive
    over scenes), with its bootstrap interval over seeds and scenes."""
    counts = _check(counts, name)
    generator = torch.Generator().manual_seed(seed)
    weights = _scene_weights(counts.shape[1], draws, generator)
    whole, drawn = _per_seed(counts, score, weights)
    picked = torch.randint(len(whole), (draws, len(whole)), generator=generator)
    means = drawn.T.gather(1, picked).mean(1)
    return Estimate(name, float(whole.mean()), *_interval(means, level), len(whole), counts.shape[1])


def compare(a: str, counts_a: torch.Tensor, b: str, counts_b: torch.Tensor, score: Score | tuple[Score, Score],
            *, paired: bool, statistic: str = "", draws: int = DRAWS, level: float = LEVEL,
            seed: int = 0) -> Verdict:
    """The verdict on ``a``'s score minus ``b``'s, from their per-scene counts (``seeds x scenes x ...``,
    the same scenes in the same order). ``score`` may be a pair: ``a``'s and ``b``'s (two scores of
    one model, for instance). ``paired``: seed ``i`` of ``a`` and seed ``i`` of ``b`` were trained
    from the same seed (same classifier, same data order), so they are drawn together."""
    score_a, score_b = score if isinstance(score, tuple) else (score, score)
    counts_a, counts_b = _check(counts_a, a), _check(counts_b, b)
    if counts_a.shape[1:] != counts_b.shape[1:]:
        raise ValueError(f"{a} and {b} were not counted on the same scenes in the same way: "
                         f"{tuple(counts_a.shape[1:])} against {tuple(counts_b.shape[1:])}")
    if paired and len(counts_a) != len(counts_b):
        raise ValueError(f"a paired comparison needs the same seeds on both sides: {a} has "
                         f"{len(counts_a)}, {b} {len(counts_b)}")
    generator = torch.Generator().manual_seed(seed)
    weights = _scene_weights(counts_a.shape[1], draws, generator)
    (whole_a, drawn_a), (whole_b, drawn_b) = (_per_seed(counts_a, score_a, weights),
                                              _per_seed(counts_b, score_b, weights))
    picked_a = torch.randint(len(whole_a), (draws, len(whole_a)), generator=generator)
    picked_b = picked_a if paired else torch.randint(len(whole_b), (draws, len(whole_b)), generator=generator)
    differences = drawn_a.T.gather(1, picked_a).mean(1) - drawn_b.T.gather(1, picked_b).mean(1)
    return Verdict(a, b, float(whole_a.mean() - whole_b.mean()), *_interval(differences, level),
                   min(len(whole_a), len(whole_b)), counts_a.shape[1], paired, statistic)
