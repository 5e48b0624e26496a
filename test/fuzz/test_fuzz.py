"""Bounded fuzzing: mutated valid inputs into every parser and reader, own errors only.

Each example is a valid seed of the target mutated by ``mutate`` under hypothesis'
control (or plain random bytes); the target may raise only the errors it names. The long
run is ``bench/fuzz.py``.
"""

from __future__ import annotations

import random
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from humanoid_data.errors import DecodeError
from test.fuzz.mutate import length_fields, mutate
from test.fuzz.targets import TARGETS, Target, episode_folder, episodes

FAST = [name for name in TARGETS if name.split('.')[0] in ('event_json', 'yaml', 'cdr')]
FOLDER = [name for name in TARGETS if name.split('.')[0] in ('mcap', 'metadata', 'episode')]
#: The same examples every run (the long, exploring run is bench/fuzz.py); a failure shows
#: its input as found, since shrinking random mutations buys little and costs a lot.
FUZZ = settings(max_examples=250, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def example(target: Target, index: int, rng: random.Random) -> bytes:
    """A mutated seed of ``target`` (one time in eight, arbitrary bytes), made by ``rng``."""
    seeds = target.seeds()
    if index % 8 == 0:
        return rng.randbytes(rng.randrange(256))
    return mutate(seeds[index % len(seeds)], rng, seeds, target.tokens)


def run_allowing(target: Target, data: bytes) -> None:
    """Run one input; an error outside the target's own fails the test with the input."""
    try:
        target.run(data)
    except target.allowed:
        pass
    except Exception as err:
        raise AssertionError(f'{target.name}: {type(err).__name__} escaped for input '
                             f'{data[:200]!r}') from err


@pytest.mark.parametrize('name', FAST)
@FUZZ
@given(index=st.integers(0, 63), rng=st.randoms(use_true_random=False))
def test_parsers_raise_only_their_own_errors(name, index, rng):
    target = TARGETS[name]
    run_allowing(target, example(target, index, rng))


@pytest.mark.parametrize('name', FOLDER)
@settings(FUZZ, max_examples=250)
@given(index=st.integers(0, 63), rng=st.randoms(use_true_random=False))
def test_bag_readers_raise_only_their_own_errors(name, index, rng):
    target = TARGETS[name]
    run_allowing(target, example(target, index, rng))


@pytest.mark.parametrize('name', [n for n in TARGETS if n.startswith('cdr.')])
def test_a_huge_length_field_is_refused_before_allocating(name):
    """Every probable length of every seed set to 2**32 - 1: DecodeError, < 1 MB allocated."""
    target = TARGETS[name]
    for seed in target.seeds():
        for at in length_fields(seed):
            for value in (0xffffffff, 0x7fffffff, 0x10000000):
                raw = bytearray(seed)
                struct.pack_into('<I', raw, at, value)
                tracemalloc.start()
                try:
                    run_allowing(target, bytes(raw))
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                assert peak < 1 << 20, f'{name}: {peak} bytes allocated for length at {at}'


def test_every_seed_is_accepted():
    for name, target in TARGETS.items():
        for seed in target.seeds():
            target.run(seed)            # nothing raised: the mutations start from valid input


def test_the_episode_folder_holds_the_valid_files_again_after_a_mutation():
    folder = episode_folder(mcap=b'not mcap')
    assert (folder / 'episode_0001.mcap').read_bytes() == b'not mcap'
    folder = episode_folder()
    assert (folder / 'episode_0001.mcap').read_bytes() == episodes()[0].mcap


def test_a_cdr_payload_that_is_cut_short_is_a_decode_error():
    image = TARGETS['cdr.Image'].seeds()[0]
    with pytest.raises(DecodeError):
        TARGETS['cdr.Image'].run(image[:len(image) // 2])
