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


def by_scale(leg: Leg, scale: float | None) -> dict[int, float]:
    """Scores divided by `scale` (the leg's best possible score), clipped to 0..1; no scale: by the best score
    the leg returned. Unlike min-max, the weakest candidate keeps its distance from zero, so a leg whose best
    match is poor stays poor after normalising."""
    if not leg:
        return {}
    scale = scale if scale and scale > 0 else max(score for _, score in leg.values())
    if scale <= 0:
        return {cid: 0.0 for cid in leg}
    return {cid: min(1.0, max(0.0, score / scale)) for cid, (_, score) in leg.items()}


def weighted(
    legs: list[Leg], *, weights: list[float], scales: list[float | None] | None = None, relative: bool = False
) -> dict[int, float]:
    """Weighted score fusion: sum over legs of weight * normalised score; a chunk missing from a leg gets 0 there.
    Absolute (default): each score over its leg's scale (see by_scale). relative=True: min-max within the
    leg's candidates (relative score fusion)."""
    scales = scales or [None] * len(legs)
    fused: dict[int, float] = {}
    for leg, weight, scale in zip(legs, weights, scales, strict=True):
        normalised = min_max(leg) if relative else by_scale(leg, scale)
        for chunk_id, norm in normalised.items():
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * norm
    return fused


def ranked(fused: dict[int, float]) -> list[tuple[int, float]]:
    """Highest score first; ties by chunk id so equal inputs give the same order every time."""
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
