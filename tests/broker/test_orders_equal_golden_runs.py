"""Equivalence guard of the order path: random order scripts (market, limit, stop, stop-limit,
trailing, cancels, brackets, OCO, cancel/replace quotes) on random trade and book streams give
today the notifications, fills, cash, positions, observer lines and analyzer results recorded
from the code before the order-path speedups (see golden_runs.py), to the last digit."""

from __future__ import annotations

import json

import pytest

from tests.broker.golden_runs import make_case, recorded, run_case

RECORDED = recorded()


def test_the_recorded_cases_are_the_generated_ones():
    """The golden file holds the outcome of exactly the cases the generator makes."""
    assert [entry["case"] for entry in RECORDED] == json.loads(json.dumps([make_case(seed)
                                                                        for seed in range(len(RECORDED))]))


@pytest.mark.parametrize("index", range(len(RECORDED)))
def test_a_random_script_gives_the_recorded_outcome(index):
    entry = RECORDED[index]
    assert json.loads(json.dumps(run_case(entry["case"]))) == entry["outcome"]
