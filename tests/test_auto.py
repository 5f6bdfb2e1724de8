"""The auto detector: members fitted within a budget, chosen on injected anomalies, never on labels."""

import numpy as np
import pytest

from tsgan import load
from tsgan.datasets import make_industrial
from tsgan.detectors import Auto, Detector, WindowKNN
from tsgan.detectors import auto as auto_module
from tsgan.detectors.auto import channel_roles, choose, switch_channels
from tsgan.errors import ConfigError, InputError
from tsgan.preprocess import robust_stats
from tsgan.series import Series

CHEAP = ["pca", "zscore", "knn"]


@pytest.fixture(scope="module")
def train():
    return make_industrial(1500, 4, anomalies=False, seed=1)


@pytest.fixture(scope="module")
def test_series():
    return make_industrial(800, 4, n_anomalies=3, seed=2)


@pytest.fixture(scope="module")
def fitted(train):
    return Auto(members=[*CHEAP, "egbad"], window=16, rounds=2, combine="best").fit(train)


def test_report_says_what_was_kept_and_why(fitted):
    report = fitted.report_
    assert [e["name"] for e in report["members"]] == [*CHEAP, "egbad"]
    assert report["window"] == 16 and len(report["injections"]) == 2
    assert all(0 <= e["val_vus_pr"] <= 1 and e["fit_s"] >= 0 for e in report["members"])
    assert sum(e["weight"] for e in report["members"]) == pytest.approx(1.0)
    best = max(report["members"], key=lambda e: e["val_vus_pr"])
    assert fitted.kept() == [best["name"]]
    text = fitted.describe()
    assert best["name"] in text and "kept" in text and "validation VUS-PR" in text


def test_scores_and_channels_follow_the_contract(fitted, test_series):
    detection = fitted.detect(test_series)
    assert detection.scores.channel.shape == (len(test_series), 4)
    assert np.isfinite(detection.scores.point).all()
    assert detection.flags.any() and detection.intervals


def test_round_trip_keeps_every_member_and_the_scores(fitted, test_series, tmp_path):
    path = tmp_path / "auto.tsgan"
    fitted.save(path)
    loaded = load(path)
    assert loaded.report_ == fitted.report_
    assert [m.name for m in loaded.members_] == [m.name for m in fitted.members_]
    assert np.array_equal(loaded.weights_, fitted.weights_)
    np.testing.assert_allclose(loaded.score(test_series).point, fitted.score(test_series).point, atol=1e-5)


def test_rules_choose_from_validation_except_the_anchor():
    val = np.array([[0.5, 0.5], [0.55, 0.58], [0.9, 0.1]])  # members x rounds of validation VUS-PR
    assert list(choose(val, "anchor", 2, anchors=[0, 2])) == [0, 2]  # whatever validation says
    assert list(choose(val, "best", 2, anchors=[0])) == [1]
    assert list(choose(val, "top", 2, anchors=[0])) == [1, 0]


def test_anchors_combine_by_the_largest_excess(train, test_series):
    det = Auto(members=["zscore", "knn", "pca-window"], window=16, rounds=1).fit(train)
    assert det.kept() == ["knn", "pca-window"]  # the default anchors, not the first member
    assert det.report_["anchors"] == ["knn", "pca-window"]
    assert "combine anchor (knn, pca-window)" in det.describe()
    x = det.scaler_.transform(test_series.values)
    excesses = [m._excess(m._normalise(m._channel_scores(x, False))) for m in det.members_[1:]]
    np.testing.assert_allclose(det._channel_scores(x, False), np.maximum(*excesses), atol=1e-6)


@pytest.mark.parametrize(
    "member, setting", [("knn-channel", ("per_channel", True)), ("knn-max", ("fold", "max"))]
)
def test_knn_variant_members_are_the_knn_with_their_setting(member, setting, train, tmp_path):
    name, value = setting
    det = Auto(members=[member, "knn"], anchors=[member], window=16, rounds=1).fit(train)
    assert det.kept() == [member]
    assert getattr(det.members_[0].config, name) == value != getattr(det.members_[1].config, name)
    det.save(tmp_path / "m.tsgan")
    assert getattr(load(tmp_path / "m.tsgan").members_[0].config, name) == value


def test_blocks_scored_together_score_as_each_alone(train, test_series):
    det = Auto(members=["knn", "pca-window"], window=16, rounds=1).fit(train)
    x = det.scaler_.transform(test_series.values).astype(np.float32)
    blocks = np.stack([x[:100], x[100:200], x[300:400]])
    alone = np.stack([det._channel_scores(block, False) for block in blocks])
    np.testing.assert_allclose(det._block_scores(blocks), alone, rtol=1e-5, atol=1e-5)


def test_without_an_anchor_among_the_members_the_first_is_used(train):
    det = Auto(members=["zscore", "pca"], rounds=1).fit(train)
    assert det.kept() == ["zscore"]


def test_top_combination_averages_the_best_members(train):
    det = Auto(members=CHEAP, window=16, rounds=1, combine="top", top_k=2).fit(train)
    assert np.count_nonzero(det.weights_) == 2 and det.weights_.sum() == pytest.approx(1.0)
    order = np.argsort(-det.val_vus_.mean(axis=1))
    assert set(np.flatnonzero(det.weights_)) == set(order[:2])


def test_selection_picks_the_member_known_to_be_best(train, monkeypatch):
    # Random scores know nothing, so a z-score must beat them on every injected anomaly set.
    monkeypatch.setitem(auto_module.MEMBERS, "random", ("random", False))
    det = Auto(members=["random", "zscore"], rounds=2, combine="best").fit(train)
    assert det.kept() == ["zscore"]
    random_vus, zscore_vus = det.val_vus_.mean(axis=1)
    assert zscore_vus > random_vus + 0.1


def test_selection_never_reads_labels(train):
    def fit(labels):
        series = Series(values=train.values, channels=train.channels, labels=labels)
        det = Auto(members=CHEAP, window=16, rounds=1, combine="best").fit(series)
        return det.weights_, det.val_vus_, det.report_["members"]

    rng = np.random.default_rng(0)
    labels = (rng.random(len(train)) < 0.1).astype(np.int8)
    unlabelled = fit(None)
    for other in (fit(labels), fit(rng.permutation(labels))):
        assert np.array_equal(other[0], unlabelled[0]) and np.array_equal(other[1], unlabelled[1])
        strip = [{k: v for k, v in e.items() if k != "fit_s"} for e in other[2]]
        assert strip == [{k: v for k, v in e.items() if k != "fit_s"} for e in unlabelled[2]]


def test_budget_skips_members_and_says_so(train):
    det = Auto(members=[*CHEAP, "egbad"], window=16, rounds=1, budget_seconds=1e-9).fit(train)
    entries = det.report_["members"]
    assert "skipped" not in entries[0]  # the first member always gets its chance
    assert all("time budget" in e["skipped"] for e in entries[1:])
    assert len(det.members_) == 1 and "skipped: the time budget" in det.describe()


def test_window_comes_from_the_period(train):
    # make_industrial has a daily cycle of 1440 rows at one row a minute; the window is clipped to 100.
    det = Auto(members=["knn"], rounds=1).fit(train)
    assert 8 <= det.window_ <= 100 and det.members_[0].config.window == det.window_


def test_a_member_that_cannot_fit_is_skipped_not_fatal(train, monkeypatch):
    def refuse(self, x_train, verbose):
        raise InputError("knn: this data is too short for it")

    monkeypatch.setattr(WindowKNN, "_fit", refuse)
    det = Auto(members=["zscore", "knn"], rounds=1, window=16).fit(train)
    entries = {e["name"]: e for e in det.report_["members"]}
    assert entries["knn"]["skipped"] == "knn: this data is too short for it" and det.kept() == ["zscore"]


def test_reference_rows_recalibrate_a_copy_only(train, test_series):
    det = Auto(members=CHEAP, window=16, rounds=1, reference_rows=200).fit(train)
    members = list(det.members_)
    centers = [m.score_center_.copy() for m in members]
    det.detect(test_series)
    assert det.members_ == members
    assert all(np.array_equal(c, m.score_center_) for c, m in zip(centers, members, strict=True))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"budget_seconds": 0}, "budget_seconds must be > 0, got 0"),
        ({"members": ["pca", "nope"]}, "unknown auto member 'nope'"),
        ({"members": []}, "auto needs at least one member"),
        ({"anchors": "knn,nope"}, "unknown auto member 'nope'"),
        ({"switch_anchors": ["nope"]}, "unknown auto member 'nope'"),
        ({"combine": "vote"}, "unknown combine 'vote'"),
        ({"epochs": 3}, "auto has no parameter epochs"),
        ({"scan": [1, 0]}, r"scan scales must be finite and > 0 \(in windows\), got \[1, 0\]"),
        ({"scan": [float("inf")]}, r"scan scales must be finite and > 0 \(in windows\), got \[inf\]"),
        ({"scan": "1,2"}, "scan='1,2': expected list\\[float\\], found str"),
    ],
)
def test_bad_settings_are_one_line_errors(params, message):
    with pytest.raises(ConfigError, match=message) as info:
        Auto(**params)
    assert "\n" not in str(info.value)


def test_a_channel_that_sits_still_is_not_given_a_spread_near_zero():
    # Nine values in ten at 0 with a faint jitter, the rest spread over +-1: the IQR alone gives a sigma
    # of about 0.01, so a later 0.5 would be 50 sigmas; the tail floor keeps it at a tenth of the tails'.
    values = np.where(np.arange(2000) % 10 == 0, np.linspace(-1, 1, 2000), 0.0)
    values = (values + np.random.default_rng(0).normal(0, 0.01, 2000))[:, None]
    _, iqr_only = robust_stats(values)
    _, floored = robust_stats(values, tail_floor=0.1)
    q99, q1 = np.percentile(values, [99, 1])
    assert iqr_only[0] < 0.02 and np.isclose(floored[0], 0.1 * (q99 - q1) / 4.653, rtol=1e-5)
    normal = np.random.default_rng(1).normal(0, 1, (5000, 1))
    assert np.array_equal(robust_stats(normal)[1], robust_stats(normal, tail_floor=0.1)[1])
    assert Auto.score_tail_floor == 0.1 and Detector.score_tail_floor is None


def _before_offset(det, series):
    """The point scores of `series` before the series' own threshold offset (max_flagged, series_floor)."""
    scores = det.score(series)
    return scores.point + scores.threshold_offset


def _unscanned(det, series):
    x = det.scaler_.transform(series.values)
    return det._point(det._excess(det._normalise(det._channel_scores(x, False))))


def test_point_scores_are_scanned_over_the_windows_and_saved(train, test_series, tmp_path):
    det = Auto(members=["knn", "pca-window"], window=16, rounds=1, scan=[1, 4]).fit(train)
    assert det.scan_widths_.tolist() == [1, 16, 64] == det.report_["scan_widths"]
    assert "scanned over 1, 16, 64 points" in det.describe()
    point, unscanned = _before_offset(det, test_series), _unscanned(det, test_series)
    assert (point >= unscanned - 1e-5).all() and (point > unscanned + 1e-3).any()
    det.save(tmp_path / "scan.tsgan")
    np.testing.assert_allclose(_before_offset(load(tmp_path / "scan.tsgan"), test_series), point, atol=1e-4)
    plain = Auto(members=["knn", "pca-window"], window=16, rounds=1, scan=[]).fit(train)
    np.testing.assert_allclose(_before_offset(plain, test_series), _unscanned(plain, test_series), atol=1e-5)


def test_a_model_saved_before_the_scan_scores_unscanned(train, test_series):
    det = Auto(members=["knn"], window=16, rounds=1, scan=[1, 4]).fit(train)
    det._load_state({k: v for k, v in det._state().items() if not k.startswith("scan_")})
    np.testing.assert_allclose(_before_offset(det, test_series), _unscanned(det, test_series), atol=1e-5)


def _with_switch(series: Series, seed: int) -> Series:
    """`series` and a valve channel that opens and closes on its own schedule (two values)."""
    rng = np.random.default_rng(seed)
    valve = (np.cumsum(rng.random(len(series)) < 0.01) % 2).astype(np.float32)
    values = np.column_stack([series.values, valve])
    return Series(values=values, channels=[*series.channels, "valve"], labels=series.labels)


def test_switch_channels_are_those_with_two_values_at_most():
    x = np.column_stack([np.zeros(50), np.tile([0.0, 1.0], 25), np.tile([0.0, 1.0, 2.0], 17)[:50]])
    assert switch_channels(x).tolist() == [True, True, False]


def test_roles_give_the_switches_to_the_switch_anchors():
    switches = np.array([False, True, False])
    roles = channel_roles(3, np.array([0, 1]), [2], switches)
    assert roles.tolist() == [[True, False, True], [True, False, True], [False, True, False]]
    everywhere = [[True] * 3, [True] * 3, [False] * 3]
    assert channel_roles(3, np.array([0, 1]), [], switches).tolist() == everywhere  # no switch anchor
    assert channel_roles(3, np.array([0, 1]), [2], np.zeros(3, bool)).tolist() == everywhere  # no switch


def test_switches_are_judged_by_the_kNN_among_their_own_windows(train, test_series, tmp_path):
    members = ["knn", "pca-window", "knn-channel"]
    det = Auto(members=members, window=16, rounds=1).fit(_with_switch(train, 0))
    assert det.report_["switches"] == ["valve"] and det.report_["switch_anchors"] == ["knn-channel"]
    assert det.kept() == members
    assert "switch channels (two values in training), judged by knn-channel: valve" in det.describe()
    series = _with_switch(test_series, 1)
    x = det.scaler_.transform(series.values)
    views = [x, x, x[:, det.switches_]]  # the switch anchor sees the switches alone
    knn, pca_window, knn_channel = (
        m._excess(m._normalise(m._channel_scores(v, False))) for m, v in zip(det.members_, views, strict=True)
    )
    assert knn_channel.shape == (len(series), 1)
    combined = det._channel_scores(x, False)
    np.testing.assert_allclose(combined[:, -1], knn_channel[:, 0], atol=1e-6)
    np.testing.assert_allclose(combined[:, :-1], np.maximum(knn, pca_window)[:, :-1], atol=1e-6)
    blocks = np.stack([x[:100], x[300:400]]).astype(np.float32)  # as a stream scores its buffers
    alone = np.stack([det._channel_scores(block, False) for block in blocks])
    np.testing.assert_allclose(det._block_scores(blocks), alone, rtol=1e-5, atol=1e-5)
    det.save(tmp_path / "switch.tsgan")
    loaded = load(tmp_path / "switch.tsgan")
    assert np.array_equal(loaded.channel_roles_, det.channel_roles_)
    np.testing.assert_allclose(loaded.score(series).point, det.score(series).point, atol=1e-5)


def test_without_switches_the_switch_anchor_is_not_fitted(train):
    det = Auto(members=["knn", "pca-window", "knn-channel"], window=16, rounds=1).fit(train)
    assert det.report_["switches"] == [] and det.kept() == ["knn", "pca-window"]
    assert "knn-channel skipped: no switch channels" in det.describe()
    assert "switch channels (two" not in det.describe()
    best = Auto(members=["knn", "knn-channel"], window=16, rounds=1, combine="best").fit(train)
    assert len(best.members_) == 2  # under another rule it is a member like any other


def test_a_model_saved_before_switches_has_its_members_judge_every_channel(train, test_series):
    det = Auto(members=["knn", "pca-window"], window=16, rounds=1).fit(train)
    expected = det.score(test_series).point
    det._load_state({k: v for k, v in det._state().items() if k != "channel_roles"})
    assert det.channel_roles_.all()
    np.testing.assert_allclose(det.score(test_series).point, expected, atol=1e-6)
