"""Tests of the synthetic generators and the public-dataset loaders (tsgan.datasets)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tsgan.datasets import (
    INDUSTRIAL_ANOMALIES,
    PMU_CHANNELS,
    PMU_EVENTS,
    data_root,
    load_csv_split,
    load_dataset,
    make_industrial,
    make_pmu,
    write_samples,
)
from tsgan.errors import ConfigError, DatasetError, InputError

REPO = Path(__file__).resolve().parents[1]


def labels_from_meta(series) -> tuple[np.ndarray, np.ndarray]:
    """Point and channel labels rebuilt from meta["anomalies"]."""
    labels = np.zeros(len(series), dtype=np.int8)
    channel_labels = np.zeros(series.values.shape, dtype=np.int8)
    for a in series.meta["anomalies"]:
        labels[a["start"] : a["end"] + 1] = 1
        channel_labels[a["start"] : a["end"] + 1, [series.channels.index(c) for c in a["channels"]]] = 1
    return labels, channel_labels


# ---------------------------------------------------------------------------------------------- generators


@pytest.mark.parametrize(
    "make", [lambda seed: make_industrial(800, seed=seed), lambda seed: make_pmu(8.0, seed=seed)]
)
def test_generators_are_deterministic_for_a_seed(make):
    a, b, c = make(3), make(3), make(4)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.channel_labels, b.channel_labels)
    assert a.meta["anomalies"] == b.meta["anomalies"]
    assert not np.array_equal(a.values, c.values)


def test_industrial_shapes_names_and_timestamps():
    s = make_industrial(1000, 7, freq_seconds=30, start="2026-03-01")
    assert s.values.shape == (1000, 7) and s.values.dtype == np.float32
    assert s.channels == [
        "temp_1",
        "pressure_1",
        "flow_1",
        "vibration_1",
        "current_1",
        "temp_2",
        "pressure_2",
    ]
    assert s.timestamps.dtype == np.dtype("datetime64[ns]")
    assert s.timestamps[0] == np.datetime64("2026-03-01T00:00:00")
    assert (np.diff(s.timestamps) == np.timedelta64(30, "s")).all()
    assert s.labels.dtype == np.int8 and s.channel_labels.shape == (1000, 7)


def test_industrial_labels_match_meta_and_only_listed_channels_change():
    dirty = make_industrial(3000, seed=5, n_anomalies=10)
    clean = make_industrial(3000, seed=5, anomalies=False)
    labels, channel_labels = labels_from_meta(dirty)
    np.testing.assert_array_equal(dirty.labels, labels)
    np.testing.assert_array_equal(dirty.channel_labels, channel_labels)
    changed = dirty.values != clean.values
    assert not (changed & (channel_labels == 0)).any(), "a channel changed outside its labels"
    for a in dirty.meta["anomalies"]:
        cols = [dirty.channels.index(c) for c in a["channels"]]
        assert 1 <= len(cols) <= 3
        assert changed[a["start"] : a["end"] + 1, cols].any(), f"{a} changed nothing"


def test_every_industrial_kind_appears():
    kinds = {
        a["kind"]
        for a in make_industrial(4000, n_anomalies=len(INDUSTRIAL_ANOMALIES), seed=9).meta["anomalies"]
    }
    assert kinds == set(INDUSTRIAL_ANOMALIES)


def test_clean_industrial_data_has_no_labels():
    s = make_industrial(1500, anomalies=False)
    assert s.labels.sum() == 0 and s.channel_labels.sum() == 0 and s.meta["anomalies"] == []


def test_too_many_anomalies_is_a_config_error():
    with pytest.raises(ConfigError, match="do not fit"):
        make_industrial(100, n_anomalies=50)


def test_pmu_channels_levels_and_angles():
    s = make_pmu(20.0, seed=2)
    assert s.channels == PMU_CHANNELS
    assert s.channels[:4] == ["VA_mag", "VA_ang", "VB_mag", "VB_ang"] and s.channels[-2:] == ["freq", "rocof"]
    assert len(s) == 20 * 120
    assert np.diff(s.timestamps).astype(np.int64).mean() == pytest.approx(1e9 / 120)
    normal = s.labels == 0
    v = s.values[normal][:, [s.channels.index(f"V{p}_mag") for p in "ABC"]]
    i = s.values[normal][:, [s.channels.index(f"I{p}_mag") for p in "ABC"]]
    assert 0.95 * 7200 < v.mean() < 1.05 * 7200
    assert 100 < i.mean() < 600
    angles = s.values[:, [c.endswith("_ang") for c in s.channels]]
    assert (angles > -180).all() and (angles <= 180).all()
    freq = s.values[normal, s.channels.index("freq")]
    assert np.abs(freq - 60).max() < 0.1


def test_pmu_events_present_labelled_and_physical():
    s = make_pmu(60.0, n_events=len(PMU_EVENTS), seed=0)
    assert {a["kind"] for a in s.meta["anomalies"]} == set(PMU_EVENTS)
    labels, channel_labels = labels_from_meta(s)
    np.testing.assert_array_equal(s.labels, labels)
    np.testing.assert_array_equal(s.channel_labels, channel_labels)
    sag = next(a for a in s.meta["anomalies"] if a["kind"] == "voltage_sag")
    mag = [s.channels.index(c) for c in sag["channels"] if c.startswith("V") and c.endswith("_mag")]
    window = s.values[sag["start"] : sag["end"] + 1, mag]
    before = s.values[: sag["start"], mag]
    assert window.min() < 0.9 * np.median(before)


def test_pmu_events_change_only_their_labelled_channels():
    dirty = make_pmu(120.0, n_events=2 * len(PMU_EVENTS), seed=11)
    clean = make_pmu(120.0, events=False, seed=11)
    changed = np.abs(dirty.values - clean.values) > 1e-9
    assert not (changed & (dirty.channel_labels == 0)).any(), "a channel changed outside its labels"
    for a in dirty.meta["anomalies"]:
        cols = [dirty.channels.index(c) for c in a["channels"]]
        assert changed[a["start"] : a["end"] + 1, cols].any(axis=0).all(), (
            f"{a} left a labelled channel as is"
        )


def _event(kind: str, seed: int = 3):
    """One event of `kind` in 30 s of PMU data, the same data without it, and the event's rows."""
    dirty = make_pmu(30.0, n_events=1, seed=seed, kinds=[kind])
    clean = make_pmu(30.0, events=False, seed=seed)
    (a,) = dirty.meta["anomalies"]
    rows = slice(a["start"], a["end"] + 1)
    return dirty.values[rows], clean.values[rows], a, lambda name: dirty.channels.index(name)


def test_pmu_swell_motor_start_and_pv_trip_are_physical():
    x, c, a, col = _event("voltage_swell")
    phases = sorted({ch[1] for ch in a["channels"]})
    assert 1 <= len(phases) <= 2 and all(
        x[:, col(f"V{p}_mag")].max() > 1.07 * c[:, col(f"V{p}_mag")].max() for p in phases
    )
    x, c, a, col = _event("motor_start")
    ia, va = col("IA_mag"), col("VA_mag")
    assert x[:, ia].max() > 1.2 * c[:, ia].max() and x[:, va].min() < 0.995 * c[:, va].min()  # inrush, dip
    x, c, a, col = _event("pv_trip")
    assert x[:, ia].mean() > 1.05 * c[:, ia].mean() and x[:, va].mean() < c[:, va].mean()


def test_pmu_frequency_excursion_and_phase_angle_jump_move_the_angles():
    for kind in ("frequency_excursion", "phase_angle_jump"):
        x, c, a, col = _event(kind)
        f, angle = col("freq"), col("VB_ang")
        shift = (x[:, angle] - c[:, angle] + 180) % 360 - 180
        assert {"freq", "rocof", "VB_ang", "IC_ang"} <= set(a["channels"])
        assert np.abs(x[:, f] - c[:, f]).max() > 0.02  # 40 noise sigmas
        assert np.abs(shift).max() > 2.0 and abs(shift[-1]) < 0.5  # the angles return by the end
    assert np.abs(shift[len(shift) // 2]) > 2.5  # the jump holds in between


def test_pmu_event_kinds_can_be_chosen():
    s = make_pmu(30.0, n_events=4, seed=2, kinds=["voltage_sag", "pv_trip"])
    assert {a["kind"] for a in s.meta["anomalies"]} == {"voltage_sag", "pv_trip"}
    with pytest.raises(ConfigError, match="unknown PMU event kinds"):
        make_pmu(10.0, kinds=["tornado"])


def test_pmu_without_events_and_an_hour_in_seconds():
    assert make_pmu(5.0, events=False).labels.sum() == 0
    t0 = time.perf_counter()
    hour = make_pmu(3600.0, seed=1)
    assert len(hour) == 432_000 and time.perf_counter() - t0 < 5


def test_write_samples_reproduces_the_shipped_files(tmp_path):
    for path in write_samples(tmp_path):
        assert path.stat().st_size < 1_000_000
        shipped = REPO / "datasets" / "samples" / path.name
        assert shipped.read_bytes() == path.read_bytes(), f"{shipped} is stale: rerun write_samples"
    split = load_csv_split(tmp_path / "industrial_train.csv", tmp_path / "industrial_test.csv")
    assert split.train.labels.sum() == 0 and split.test.labels.sum() > 0
    assert split.train.timestamps[-1] < split.test.timestamps[0]


# ---------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def shared() -> Path:
    try:
        return data_root()
    except DatasetError as e:
        pytest.skip(f"public datasets absent ({e})")


def test_skab(shared):
    splits = load_dataset("skab/valve1", shared)
    assert len(splits) == len(list((shared / "skab" / "valve1").glob("*.csv")))
    s = splits[0]
    assert s.name == "skab/valve1/00" and s.train.n_channels == s.test.n_channels == 8
    assert "changepoint" not in s.test.channels and s.test.labels.any()
    assert s.test.timestamps.dtype == np.dtype("datetime64[ns]")


def test_smd_machine_loads_fast_with_channel_labels(shared):
    t0 = time.perf_counter()
    (s,) = load_dataset("smd/machine-1-6", shared)
    assert time.perf_counter() - t0 < 1.0
    assert s.train.n_channels == s.test.n_channels == 38
    assert s.test.channel_labels.shape == s.test.values.shape and s.test.channel_labels.dtype == np.int8
    assert s.test.channel_labels.any() and s.test.labels.mean() == pytest.approx(0.157, abs=0.01)
    assert len(load_dataset("smd", shared)) == len([d for d in (shared / "smd").iterdir() if d.is_dir()])


def test_nab_trains_on_the_probationary_period(shared):
    splits = load_dataset("nab/realTraffic", shared)
    assert len(splits) == len(list((shared / "nab" / "realTraffic").glob("*.csv")))
    for s in splits:
        assert len(s.train) == min(int(0.15 * len(s.test)), 750)
        np.testing.assert_array_equal(s.train.values, s.test.values[: len(s.train)])
        assert s.test.channels == ["value"] and s.test.labels.any()


def test_smap(shared):
    (s,) = load_dataset("smap/A-1", shared)
    assert s.test.channels[0] == "value" and s.test.n_channels == 25 and s.test.labels.any()
    names = [split.name for split in load_dataset("smap", shared)]
    assert len(names) == len(list((shared / "smap" / "test").glob("*.parquet")))
    assert names.index("smap/D-2") < names.index("smap/D-11")  # natural order


# ---------------------------------------------------------------------------------------------- layouts


def test_missing_dataset_names_where_it_looked(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path / "msl")):
        load_dataset("msl", tmp_path)
    with pytest.raises(DatasetError, match="known datasets"):
        load_dataset("nosuch", tmp_path)
    with pytest.raises(DatasetError, match=str(tmp_path / "absent")):
        data_root(tmp_path / "absent")


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TSGAN_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()


def write_parquet(path: Path, columns: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(columns).write_parquet(path)


def test_msl_layout(tmp_path):
    for part, labels in (("train", [0] * 6), ("test", [0, 0, 1, 1, 0, 0])):
        write_parquet(
            tmp_path / "msl" / part / "M-1.parquet",
            {"t": range(6), "value": np.linspace(-1, 1, 6), "cmd_01": [0, 1] * 3, "is_anomaly": labels},
        )
    (s,) = load_dataset("msl", tmp_path)
    assert s.name == "msl/M-1" and s.test.channels == ["value", "cmd_01"]
    assert s.test.labels.tolist() == [0, 0, 1, 1, 0, 0] and s.test.timestamps is None


def test_asd_layout_with_channel_labels(tmp_path):
    dims = {f"dim_{i:02d}": np.arange(5, dtype=np.float32) * i for i in (1, 2, 3)}
    write_parquet(tmp_path / "asd" / "omi-1" / "train.parquet", {"t": range(5)} | dims)
    write_parquet(
        tmp_path / "asd" / "omi-1" / "test.parquet", {"t": range(5)} | dims | {"is_anomaly": [0, 1, 1, 0, 0]}
    )
    marks = {"dim_01": [0, 1, 1, 0, 0], "dim_02": [0] * 5, "dim_03": [0, 0, 1, 0, 0]}
    write_parquet(tmp_path / "asd" / "omi-1" / "test_channel_labels.parquet", {"t": range(5)} | marks)
    (s,) = load_dataset("asd/omi-1", tmp_path)
    assert s.test.channels == ["dim_01", "dim_02", "dim_03"]
    np.testing.assert_array_equal(s.test.channel_labels, np.array(list(marks.values())).T)


def test_ucr_layout(tmp_path):
    folder = tmp_path / "ucr" / "UCR_Anomaly_FullData"
    folder.mkdir(parents=True)
    (folder / "001_UCR_Anomaly_Tiny_10_14_16.txt").write_text("\n".join(str(v) for v in range(20)) + "\n")
    (folder / "002_UCR_Anomaly_OneLine_5_7_7.txt").write_text("  ".join(str(v) for v in range(10)))
    a, b = load_dataset("ucr", tmp_path)
    assert a.name == "ucr/001_UCR_Anomaly_Tiny_10_14_16"
    assert len(a.train) == 10 and a.train.values[-1, 0] == 9 and a.train.labels.sum() == 0
    assert np.flatnonzero(a.test.labels).tolist() == [3, 4, 5]  # rows 14..16 of the file, 1-based
    assert np.flatnonzero(b.test.labels).tolist() == [1] and len(b.test) == 5
    assert [s.name for s in load_dataset("ucr/002", tmp_path)] == ["ucr/002_UCR_Anomaly_OneLine_5_7_7"]


def test_bad_dataset_file_is_a_dataset_error(tmp_path):
    folder = tmp_path / "ucr"
    folder.mkdir()
    (folder / "003_UCR_Anomaly_Short_5_30_31.txt").write_text("1\n2\n3\n4\n5\n6\n")
    with pytest.raises(DatasetError, match="do not fit"):
        load_dataset("ucr", tmp_path)


def test_load_csv_split_checks_its_inputs(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("timestamp,a,b\n2026-01-01 00:00:00,1,2\n2026-01-01 00:01:00,2,3\n")
    test.write_text("timestamp,a,b,is_anomaly\n2026-01-01 00:02:00,1,2,0\n2026-01-01 00:03:00,9,3,1\n")
    split = load_csv_split(train, test)
    assert split.test.channels == ["a", "b"] and split.test.labels.tolist() == [0, 1]
    assert split.train.labels is None and split.test.time_col == "timestamp"
    with pytest.raises(InputError, match="no label column"):
        load_csv_split(train, train)
    other = tmp_path / "other.csv"
    other.write_text("timestamp,a,c,is_anomaly\n2026-01-01 00:02:00,1,2,0\n")
    with pytest.raises(InputError, match="differ"):
        load_csv_split(train, other)
    test.write_text("timestamp,a,b,is_anomaly\n2026-01-01 00:02:00,1,2,2\n")
    with pytest.raises(InputError, match="only 0 and 1"):
        load_csv_split(train, test)
    with pytest.raises(InputError, match="not found"):
        load_csv_split(train, tmp_path / "missing.csv")
