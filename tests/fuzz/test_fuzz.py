"""A short, fixed sample of the fuzz run (scripts/fuzz): real captured inputs, mutated, into every target.

Each example draws a seed from the corpus and a mutation from Hypothesis's (derandomized) random
source, so the sample is the same every run. A target's contract (tests/fuzz/targets.py): the
input is accepted, or refused with a typed error and counted with a reason; nothing else.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.corpus import load_corpus
from tests.fuzz.run import feed_one
from tests.fuzz.targets import TARGETS, Target, make_targets

# Examples per target: seconds on a loaded two-core machine (the hub's STIX checks are the slowest).
_EXAMPLES = {"wire": 300, "topic": 300, "centre": 300, "hub": 200, "scenario": 100, "roster": 100}


@cache
def _target(name: str) -> Target:
    (target,) = make_targets(load_corpus(), [name])
    return target


def test_the_corpus_holds_real_messages_of_every_kind_a_target_needs() -> None:
    """The committed corpus has reports, statuses, tracks, control and cyber reports, flags and acks."""
    corpus = load_corpus()
    kinds = {k: len(corpus.of_kind(k)) for k in ("report", "status", "track", "control", "cyber_report")}
    assert all(kinds.values()), kinds
    assert corpus.scenarios
    assert corpus.members


@pytest.mark.parametrize("name", TARGETS)
def test_every_seed_is_accepted_or_counted(name: str) -> None:
    """The real inputs themselves go through every target within its contract."""
    target = _target(name)
    for data in target.seeds[:200]:
        feed_one(target, data)


def _sample(name: str) -> Any:
    """The test of ``name``'s sample: ``_EXAMPLES[name]`` mutated real inputs (or random bytes)."""

    @pytest.mark.timeout(300)
    @settings(max_examples=_EXAMPLES[name], suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test(data: st.DataObject) -> None:
        target = _target(name)
        seed = data.draw(st.sampled_from(target.seeds), label="seed")
        rng = data.draw(st.randoms(use_true_random=False), label="mutation")
        junk = data.draw(st.binary(max_size=64), label="random") if rng.random() < 0.05 else None
        feed_one(target, junk if junk is not None else target.mutate(rng, seed))  # pytest-timeout bounds it

    test.__doc__ = f"Mutated real inputs never crash the {name} target, and every refusal is counted."
    return test


test_wire_sample = _sample("wire")
test_topic_sample = _sample("topic")
test_centre_sample = _sample("centre")
test_hub_sample = _sample("hub")
test_scenario_sample = _sample("scenario")
test_roster_sample = _sample("roster")


def test_the_seeded_loop_is_reproducible() -> None:
    """The same seed gives the same inputs: a crash found by scripts/fuzz can be replayed."""
    target = _target("wire")
    a, b = random.Random(7), random.Random(7)
    assert [target.mutate(a, s) for s in target.seeds[:20]] == [
        target.mutate(b, s) for s in target.seeds[:20]
    ]
