"""Fusing the ranked lists of the two legs. Pure functions over {chunk_id: (rank, score)}."""

from __future__ import annotations

Leg = dict[int, tuple[int, float]]  # chunk id -> (1-based rank, leg score)


def rrf(legs: list[Leg], *, k: int, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion (Cormack et al. 2009): sum over legs of weight / (k + rank)."""
    weights = weights or [1.0] * len(legs)
    fused: dict[int, float] = {}
    for leg, weight in zip(legs, weights, strict=True):
        for chunk_id, (rank, _) in leg.items():
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return fused


def min_max(leg: Leg) -> dict[int, float]:
    """Scores rescaled to 0..1 within the leg's candidates (all equal -> 1), so legs on different scales add up."""
    if not leg:
        return {}
    scores = [score for _, score in leg.values()]
    low, high = min(scores), max(scores)
    span = high - low
    return {cid: (score - low) / span if span > 0 else 1.0 for cid, (_, score) in leg.items()}


def weighted(legs: list[Leg], *, weights: list[float]) -> dict[int, float]:
    """Relative-score fusion: sum of weight * min-max-normalised score; a chunk missing from a leg gets 0 there."""
    fused: dict[int, float] = {}
    for leg, weight in zip(legs, weights, strict=True):
        for chunk_id, norm in min_max(leg).items():
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * norm
    return fused


def ranked(fused: dict[int, float]) -> list[tuple[int, float]]:
    """Highest score first; ties by chunk id so equal inputs give the same order every time."""
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
