"""Events: merging flagged runs, minimum length, channel ranking, timestamps."""

import json

import numpy as np
import pytest

from tsgan.errors import ConfigError, InputError
from tsgan.events import Interval, find_intervals, merge_runs

FLAGS = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0], dtype=bool)


@pytest.mark.parametrize(
    ("max_gap", "min_length", "expected"),
    [
        (0, 1, [(1, 2), (5, 5), (7, 9)]),
        (1, 1, [(1, 2), (5, 9)]),
        (2, 1, [(1, 9)]),
        (0, 2, [(1, 2), (7, 9)]),
        (1, 5, [(5, 9)]),  # bridged gap rows count in the length
    ],
)
def test_merge_runs(max_gap, min_length, expected):
    assert merge_runs(FLAGS, max_gap=max_gap, min_length=min_length) == expected


def reference_runs(flags, max_gap, min_length):
    """Row-by-row reference implementation of merge_runs."""
    runs = []
    for i, f in enumerate(flags):
        if not f:
            continue
        if runs and i - runs[-1][1] - 1 <= max_gap:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(s, e) for s, e in runs if e - s + 1 >= min_length]


def test_merge_runs_matches_reference_on_random_flags():
    rng = np.random.default_rng(0)
    for _ in range(50):
        flags = rng.random(200) < rng.uniform(0.05, 0.6)
        max_gap, min_length = int(rng.integers(0, 4)), int(rng.integers(1, 5))
        assert merge_runs(flags, max_gap, min_length) == reference_runs(flags, max_gap, min_length)


def test_runs_touching_both_ends_and_empty():
    assert merge_runs(np.array([1, 1, 0, 1], dtype=bool)) == [(0, 1), (3, 3)]
    assert merge_runs(np.zeros(10, dtype=bool)) == []
    assert merge_runs(np.zeros(0, dtype=bool)) == []
    assert find_intervals(np.zeros(5, bool), np.zeros(5), np.zeros((5, 2)), ["a", "b"]) == []


def test_bad_parameters():
    with pytest.raises(ConfigError, match="max_gap=-1"):
        merge_runs(FLAGS, max_gap=-1)
    with pytest.raises(ConfigError, match="min_length=0"):
        merge_runs(FLAGS, min_length=0)
    with pytest.raises(InputError):
        find_intervals(FLAGS, np.zeros(3), np.zeros((11, 2)), ["a", "b"])
    with pytest.raises(InputError):
        find_intervals(FLAGS, np.zeros(11), np.zeros((11, 2)), ["a"])


def test_channel_ranking_peak_and_contributors():
    n = 12
    flags = np.zeros(n, dtype=bool)
    flags[[2, 3, 5]] = True  # one interval 2..5 with max_gap=1, gap row 4
    flags[[9, 10]] = True  # a second interval where no channel passes its threshold
    score = np.arange(n, dtype=float)
    score[4] = 100.0  # the bridged gap row does not set the peak
    contrib = np.full((n, 3), -0.8)  # excess over threshold: > 0 is above it
    contrib[[2, 3, 5], 1] = 2.0  # b: far above its threshold throughout
    contrib[3, 0] = 0.5  # a: above once
    contrib[[9, 10], 2] = -0.2  # c: the largest, but below its threshold
    intervals = find_intervals(flags, score, contrib, ["a", "b", "c"], max_gap=1)

    first, second = intervals
    assert (first.start, first.end, first.peak_score) == (2, 5, 5.0)
    assert first.channels == ["b", "a"]
    assert first.channel_scores == pytest.approx([2.0, (-0.8 + 0.5 - 0.8) / 3])
    assert second.channels == ["c"] and second.channel_scores == pytest.approx([-0.2])
    assert first.start_time is None and first.end_time is None


def test_timestamps_become_iso_strings_and_dict_is_json_ready():
    n = 6
    flags = np.array([0, 1, 1, 0, 0, 1], dtype=bool)
    contrib = np.ones((n, 1)) * 2.0
    seconds = np.datetime64("2024-03-01T12:00:00", "ns") + np.arange(n) * np.timedelta64(1, "s")
    (first, second) = find_intervals(flags, np.ones(n), contrib, ["v"], timestamps=seconds)
    assert (first.start_time, first.end_time) == ("2024-03-01T12:00:01", "2024-03-01T12:00:02")
    assert second.start_time == second.end_time == "2024-03-01T12:00:05"

    millis = np.datetime64("2024-03-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(250, "ms")
    (first, _) = find_intervals(flags, np.ones(n), contrib, ["v"], timestamps=millis)
    assert (first.start_time, first.end_time) == ("2024-03-01T00:00:00.250", "2024-03-01T00:00:00.500")

    d = first.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert Interval(**d) == first
