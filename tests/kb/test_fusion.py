"""The fusion functions (kb.search.fusion): pure, so every property is checked on exact small inputs."""

from __future__ import annotations

import pytest

from kb.search import fusion

STRONG = {10: (1, 0.92), 11: (2, 0.61), 12: (3, 0.60), 13: (4, 0.58), 14: (5, 0.57)}  # one clear winner
# a weak keyword leg: many rows that matched one common word, all far below the query's ideal (1.0)
GARBAGE = {20 + i: (i + 1, 0.030 - i * 0.001) for i in range(8)} | {11: (9, 0.021)}


def top(fused: dict[int, float]) -> int:
    return fusion.ranked(fused)[0][0]


@pytest.mark.parametrize("method", ["rrf", "weighted", "dbsf"])
def test_an_empty_leg_leaves_the_other_legs_order_unchanged(method):
    fused = {
        "rrf": lambda legs, w: fusion.rrf(legs, k=10, weights=w),
        "weighted": lambda legs, w: fusion.weighted(legs, weights=w, scales=[1.0, 1.0]),
        "dbsf": lambda legs, w: fusion.dbsf(legs, weights=w),
    }[method]([STRONG, {}], [0.4, 0.6])
    assert [cid for cid, _ in fusion.ranked(fused)] == [10, 11, 12, 13, 14]


@pytest.mark.parametrize("method", ["rrf", "weighted", "dbsf"])
def test_a_garbage_keyword_leg_cannot_push_the_strong_vector_top_out(method):
    confidence = fusion.keyword_confidence(GARBAGE, 1.0, full_at=0.25)
    assert confidence == pytest.approx(0.12)
    weights = [0.3, 0.7 * confidence]  # even at the term-like share, which leans on keyword
    fused = {
        "rrf": lambda: fusion.rrf([STRONG, GARBAGE], k=10, weights=[2 * w for w in weights]),
        "weighted": lambda: fusion.weighted([STRONG, GARBAGE], weights=weights, scales=[1.0, 1.0]),
        "dbsf": lambda: fusion.dbsf([STRONG, GARBAGE], weights=weights),
    }[method]()
    order = [cid for cid, _ in fusion.ranked(fused)]
    assert set(order[:5]) == set(STRONG)  # no garbage-only row comes before any of the strong leg's rows
    if method == "rrf":
        # ranks carry no margin: the strong leg's #2, which the garbage leg also returned, may overtake its #1
        # (k 10: 0.6/11 vs 0.6/12 + 0.17/19), which is why score fusion keeps the top where rank fusion cannot
        assert order[:2] in ([10, 11], [11, 10])
    else:
        assert order[0] == 10
    # without the confidence, the garbage leg's share is what decides (the failure the confidence prevents)
    unscaled = {
        "rrf": lambda: fusion.rrf([STRONG, GARBAGE], k=10, weights=[0.6, 1.4]),
        "weighted": lambda: fusion.weighted([STRONG, GARBAGE], weights=[0.3, 0.7], scales=[1.0, 0.03]),
        "dbsf": lambda: fusion.dbsf([STRONG, GARBAGE], weights=[0.3, 0.7]),
    }[method]()
    assert top(unscaled) != 10


def test_keyword_confidence_is_the_best_score_over_the_ideal_up_to_one():
    leg = {1: (1, 0.3), 2: (2, 0.1)}
    assert fusion.keyword_confidence(leg, 2.0, full_at=0.25) == pytest.approx(0.6)
    assert fusion.keyword_confidence(leg, 1.0, full_at=0.25) == 1.0  # capped
    assert fusion.keyword_confidence(leg, None, full_at=0.25) == 1.0  # web-search syntax: no ideal
    assert fusion.keyword_confidence(leg, 2.0, full_at=0.0) == 1.0  # switched off
    assert fusion.keyword_confidence({}, 2.0, full_at=0.25) == 0.0


def test_distribution_rescales_by_the_legs_own_spread():
    norm = fusion.distribution({1: (1, 10.0), 2: (2, 0.0)})  # mean 5, sigma 5: 10 -> 4/6 above the low end
    assert norm[1] == pytest.approx((10 - (5 - 15)) / 30) and norm[2] == pytest.approx((0 - (5 - 15)) / 30)
    # the same shape on another scale gives the same normalised scores: a leg's scale is read from the leg
    assert fusion.distribution({1: (1, 0.9), 2: (2, 0.0)}) == pytest.approx(norm)
    assert fusion.distribution({1: (1, 0.4), 2: (2, 0.4)}) == {1: 0.0, 2: 0.0}  # flat: no information
    assert fusion.distribution({1: (1, 0.4)}) == {1: 1.0}  # a single finding
    assert fusion.distribution({}) == {}


def test_rrf_weights_and_k():
    legs = [{1: (1, 0.9), 2: (2, 0.8)}, {2: (1, 5.0), 3: (2, 4.0)}]
    fused = fusion.rrf(legs, k=10, weights=[0.8, 1.2])
    assert fused[1] == pytest.approx(0.8 / 11)
    assert fused[2] == pytest.approx(0.8 / 12 + 1.2 / 11)
    assert fused[3] == pytest.approx(1.2 / 12)
    assert [cid for cid, _ in fusion.ranked(fused)] == [2, 3, 1]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("html_theme", True),
        ("autodoc_mock_imports", True),
        ("Session.merge", True),
        ("lazy loading relationship", True),
        ("one two three four five six", True),
        ("one two three four five six seven", False),
        ("How do I set the theme?", False),
        ("what is a session", False),
        ("session state?", False),
        ("", False),
    ],
)
def test_term_like_queries(query, expected):
    assert fusion.term_like(query, max_words=6) is expected


def test_term_like_is_off_at_zero_words():
    assert fusion.term_like("html_theme", max_words=0) is False
