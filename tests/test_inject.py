"""The injection catalogue: each kind changes what it claims, where it claims, and nothing else."""

import numpy as np
import pytest

from tsgan.inject import VALIDATION_ANOMALIES, Context, inject, inject_validation


def smooth_series(rows=1200, channels=4, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    return np.sin(2 * np.pi * t / 50 + rng.uniform(0, 6, channels)) + 0.1 * rng.standard_normal(
        (rows, channels)
    )


@pytest.mark.parametrize("kind", list(VALIDATION_ANOMALIES))
def test_each_kind_changes_only_its_rows_and_channels(kind):
    clean = smooth_series()
    values = clean.copy()
    ctx = Context(np.random.default_rng(1), [f"c{i}" for i in range(4)], clean.std(axis=0), 1.0)
    labels, channel_labels, records = inject(values, {kind: VALIDATION_ANOMALIES[kind]}, 1, ctx, 1)
    (record,) = records
    assert record["kind"] == kind
    changed = values != clean
    rows = slice(record["start"], record["end"] + 1)
    assert labels[rows].all() and labels.sum() == record["end"] - record["start"] + 1
    claimed = [int(c[1:]) for c in record["channels"]]
    assert channel_labels[rows][:, claimed].all() and channel_labels.sum() == labels.sum() * len(claimed)
    # Nothing outside the labelled rows and channels moved; every claimed channel did.
    assert not changed[~channel_labels.astype(bool)].any()
    assert all(changed[rows, c].any() for c in claimed)


def test_validation_injection_is_seeded_and_leaves_the_input_alone():
    clean = smooth_series(seed=3).astype(np.float32)
    before = clean.copy()
    a = inject_validation(clean, seed=7)
    b = inject_validation(clean, seed=7)
    c = inject_validation(clean, seed=8)
    assert np.array_equal(clean, before)
    assert np.array_equal(a[0], b[0]) and a[3] == b[3]
    assert a[3] != c[3]
    assert {r["kind"] for r in a[3]} == set(VALIDATION_ANOMALIES)  # one of each kind fits 1200 rows
    assert a[1].any() and not a[1][: len(clean) // 10].any()  # the start stays clean


def test_validation_injection_fits_what_a_short_series_allows():
    values, labels, _, records = inject_validation(smooth_series(rows=40), seed=0)
    assert 1 <= len(records) <= 4 and labels.any()


def test_size_scales_the_injected_edits():
    clean = smooth_series(seed=5).astype(np.float32)
    spikes = {"spike": VALIDATION_ANOMALIES["spike"], "level_shift": VALIDATION_ANOMALIES["level_shift"]}
    full = inject_validation(clean, seed=2, kinds=spikes)[0] - clean
    half = inject_validation(clean, seed=2, kinds=spikes, size=0.5)[0] - clean
    assert np.abs(full).max() > 1 and np.allclose(half, full / 2, atol=1e-5)
