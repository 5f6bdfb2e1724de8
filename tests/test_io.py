"""tsgan.io: reading CSV/Parquet into a Series, the errors for bad input, and atomic writes."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tsgan.errors import ConfigError, InputError, TsganWarning
from tsgan.io import read_series, write_json_atomic, write_table_atomic

DATA = Path(os.environ.get("TSGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def write_csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    """A CSV file holding `text` (lines joined by newlines)."""
    path = tmp_path / name
    path.write_text(text)
    return path


def frame(n: int = 20) -> pl.DataFrame:
    """n rows, one per second: timestamp, two sensors and a label column."""
    return pl.DataFrame(
        {
            "timestamp": [f"2024-01-01 00:00:{i:02d}" for i in range(n)],
            "a": np.arange(n, dtype=float),
            "b": np.arange(n, dtype=float) * 2,
            "is_anomaly": [int(i == 5) for i in range(n)],
        }
    )


def numbers_csv(tmp_path: Path, column: list[str]) -> Path:
    """A CSV with an integer time column `t` and the sensor column `x` holding the given cells."""
    lines = ["t,x", *(f"{i},{cell}" for i, cell in enumerate(column))]
    return write_csv(tmp_path, "\n".join(lines) + "\n")


def error(path: Path, **kwargs) -> str:
    """The message of the InputError that reading `path` raises."""
    with pytest.raises(InputError) as info:
        read_series(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# --- reading good files ---------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_csv_separators(tmp_path, sep):
    path = tmp_path / "data.csv"
    frame().write_csv(path, separator=sep)
    s = read_series(path)
    assert s.channels == ["a", "b"]
    assert s.values.dtype == np.float32 and s.values.shape == (20, 2)
    np.testing.assert_array_equal(s.values[:, 1], np.arange(20) * 2)
    assert s.time_col == "timestamp"
    assert s.timestamps.dtype == np.dtype("datetime64[ns]")
    assert s.timestamps[1] - s.timestamps[0] == np.timedelta64(1, "s")
    assert s.labels.dtype == np.int8 and s.labels.tolist() == [int(i == 5) for i in range(20)]
    assert s.name == str(path)


def test_parquet_with_datetime_column(tmp_path):
    df = frame().with_columns(pl.col("timestamp").str.to_datetime().alias("when")).drop("timestamp")
    path = tmp_path / "data.pq"
    df.write_parquet(path)
    s = read_series(path)
    assert s.time_col == "when" and s.timestamps[0] == np.datetime64("2024-01-01T00:00:00")
    assert s.channels == ["a", "b"] and s.labels.sum() == 1


def test_numeric_time_index_is_not_a_channel(tmp_path):
    s = read_series(numbers_csv(tmp_path, ["1.5", "2", "3"]))
    assert s.time_col == "t" and s.timestamps is None and s.channels == ["x"]


def test_unsorted_numeric_t_is_a_channel(tmp_path):
    path = write_csv(tmp_path, "t,x\n3,1\n1,2\n2,3\n")
    s = read_series(path)
    assert s.time_col is None and s.channels == ["t", "x"]


def test_explicit_time_column(tmp_path):
    path = write_csv(tmp_path, "recorded,x,y\n2024-01-01,1,2\n2024-01-02,3,4\n")
    with pytest.warns(TsganWarning, match="'recorded'"):  # not a time-like name, so ignored as text
        assert read_series(path).time_col is None
    s = read_series(path, time_col="recorded")
    assert s.time_col == "recorded" and s.channels == ["x", "y"]
    assert s.timestamps[1] == np.datetime64("2024-01-02")


def test_missing_time_column_lists_columns(tmp_path):
    message = error(write_csv(tmp_path, "x,y\n1,2\n"), time_col="when")
    assert "'when'" in message and "['x', 'y']" in message


def test_timezone_aware_times_become_utc(tmp_path):
    path = write_csv(tmp_path, "time,x\n2024-01-01T01:00:00+01:00,1\n2024-01-01T00:00:01Z,2\n")
    assert read_series(path).timestamps[0] == np.datetime64("2024-01-01T00:00:00")


def test_label_columns_kept_aside(tmp_path):
    path = write_csv(tmp_path, "x,label,changepoint,anomaly_point\n1,0,0,0\n2,1,1,1\n")
    s = read_series(path)
    assert s.channels == ["x"] and s.labels.tolist() == [0, 1]


def test_explicit_label_column(tmp_path):
    path = write_csv(tmp_path, "x,y,truth\n1,2,0\n3,4,1\n")
    s = read_series(path, label_col="truth")
    assert s.channels == ["x", "y"] and s.labels.tolist() == [0, 1]
    assert "'nope'" in error(path, label_col="nope")
    bad = write_csv(tmp_path, "x,truth\n1,0\n2,2\n", name="bad.csv")
    assert "expected 0 or 1, found 2.0" in error(bad, label_col="truth")


def test_channel_selection(tmp_path):
    path = tmp_path / "data.csv"
    frame().write_csv(path)
    s = read_series(path, channels=["b", "a"])
    assert s.channels == ["b", "a"]
    np.testing.assert_array_equal(s.values[3], [6, 3])


def test_unknown_channel_lists_missing_and_available(tmp_path):
    path = tmp_path / "data.csv"
    frame().write_csv(path)
    message = error(path, channels=["a", "zz"])
    assert "['zz'] not found" in message and "'timestamp', 'a', 'b', 'is_anomaly'" in message


def test_label_cannot_be_a_channel(tmp_path):
    path = write_csv(tmp_path, "x,y\n1,0\n2,1\n")
    assert "cannot be channels" in error(path, channels=["x", "y"], label_col="y")


def test_bad_options():
    with pytest.raises(ConfigError, match="max_gap"):
        read_series("anything.csv", max_gap=-1)
    with pytest.raises(ConfigError, match="distinct"):
        read_series("anything.csv", channels=["a", "a"])


def test_text_column_ignored_with_warning(tmp_path):
    path = write_csv(tmp_path, "x,site\n1,north\n2,south\n")
    with pytest.warns(TsganWarning, match="'site'"):
        assert read_series(path).channels == ["x"]


# --- refusing bad files ---------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert "found nothing" in error(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    assert "empty (0 bytes)" in error(write_csv(tmp_path, ""))


def test_header_only_file(tmp_path):
    assert "no data rows" in error(write_csv(tmp_path, "a,b\n"))


def test_no_numeric_columns(tmp_path):
    message = error(write_csv(tmp_path, "name,colour\nx,red\ny,blue\n"))
    assert "expected at least one numeric column" in message and "'colour' (String)" in message


def test_non_numeric_cell_names_row_column_and_value(tmp_path):
    # Far beyond the rows polars infers the schema from, so the column first looks numeric.
    cells = ["1.5"] * 20_000
    cells[15_000] = "oops"
    message = error(numbers_csv(tmp_path, cells))
    assert "column 'x' expected a number, found 'oops' at data row 15001 (line 15002 of the file)" in message


def test_non_numeric_cell_in_mostly_numeric_text_column(tmp_path):
    path = numbers_csv(tmp_path, ["1", "2", "n/a?", "4"])
    assert "found 'n/a?' at data row 3 (line 4 of the file)" in error(path)
    assert "found 'n/a?'" in error(path, channels=["x"])


def test_all_missing_channel(tmp_path):
    path = write_csv(tmp_path, "x,y\n1,nan\n2,NaN\n3,\n")
    assert "column 'y' expected numbers, found only missing values" in error(path)


def test_infinite_value(tmp_path):
    message = error(numbers_csv(tmp_path, ["1", "2", "inf", "-inf"]))
    assert "column 'x' expected finite values" in message and "found inf at data row 3" in message


UNSORTED = "time,x\n2024-01-01 00:00:00,1\n2024-01-01 00:00:02,2\n2024-01-01 00:00:01,3\n"
REPEATED = "time,x\n2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n2024-01-03,4\n"


def test_unsorted_times_refused(tmp_path):
    path = write_csv(tmp_path, UNSORTED)
    message = error(path)
    assert "time goes backwards at data row 3 (line 4 of the file)" in message and "sort=True" in message


def test_unsorted_times_sorted_with_warning(tmp_path):
    path = write_csv(tmp_path, UNSORTED)
    with pytest.warns(TsganWarning, match="sorted the rows"):
        s = read_series(path, sort=True)
    assert s.values[:, 0].tolist() == [1, 3, 2]
    assert np.all(np.diff(s.timestamps) > np.timedelta64(0))


def test_duplicate_times_refused(tmp_path):
    path = write_csv(tmp_path, REPEATED)
    message = error(path)
    assert "'2024-01-02' appears at data rows 2, 3 (lines 3, 4 of the file)" in message


def test_duplicate_times_keep_first_with_warning(tmp_path):
    path = write_csv(tmp_path, REPEATED)
    with pytest.warns(TsganWarning, match="dropped 1 rows"):
        s = read_series(path, sort=True)
    assert s.values[:, 0].tolist() == [1, 2, 4]


def test_short_gap_filled_with_warning(tmp_path):
    path = numbers_csv(tmp_path, ["", "2", "", "", "5", "6", ""])
    with pytest.warns(TsganWarning, match=r"filled 4 missing values .*4 in 'x'"):
        s = read_series(path)
    assert s.values[:, 0].tolist() == [2, 2, 3, 4, 5, 6, 6]


def test_long_gap_refused(tmp_path):
    path = numbers_csv(tmp_path, ["1", "", "", "", "5"])
    message = error(path, max_gap=2)
    assert "column 'x'" in message and "3 missing values in a row at data rows 2-4" in message
    assert "allow_long_gaps=True" in message


def test_long_gap_allowed_with_warning(tmp_path):
    path = numbers_csv(tmp_path, ["1", "", "", "", "5"])
    with pytest.warns(TsganWarning, match="filled 3"):
        s = read_series(path, max_gap=2, allow_long_gaps=True)
    assert s.values[:, 0].tolist() == [1, 2, 3, 4, 5]


def test_no_warning_for_clean_file(tmp_path):
    path = tmp_path / "data.csv"
    frame().write_csv(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_series(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("data.csv", bytes(range(256)) * 4, "found binary data"),
        ("data.parquet", b"a,b\n1,2\n", "could not read it as Parquet"),
        ("data.csv", b"PAR1" + bytes(100), "found a Parquet file"),
        ("data.csv", b"a,b\n1,2\n3,4,5,6\n", "could not read it as CSV"),
    ],
)
def test_garbage_file(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert expected in error(path)


# --- atomic writes --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.parquet"])
def test_write_table_atomic_roundtrip_leaves_no_temp_file(tmp_path, name):
    path = tmp_path / "new" / "dir" / name
    write_table_atomic(frame(), path)
    assert os.listdir(path.parent) == [name]
    assert read_series(path).channels == ["a", "b"]


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    write_table_atomic(frame(3), path)
    before = path.read_bytes()

    def half_write(self, file, **kwargs):
        Path(file).write_text("timestamp,a")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_csv", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_table_atomic(frame(), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["out.csv"]


def test_write_table_atomic_refuses_unknown_extension(tmp_path):
    with pytest.raises(ConfigError, match=r"\.csv, \.parquet or \.pq"):
        write_table_atomic(frame(), tmp_path / "out.xlsx")


def test_write_json_atomic(tmp_path):
    path = tmp_path / "sub" / "m.json"
    write_json_atomic({"f1": np.float32(0.5), "th": np.arange(2), "src": Path("x")}, path)
    assert path.read_text() == '{\n  "f1": 0.5,\n  "th": [\n    0,\n    1\n  ],\n  "src": "x"\n}\n'
    assert os.listdir(path.parent) == ["m.json"]


# --- real datasets --------------------------------------------------------------------------------


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real datasets not found at {DATA} (set TSGAN_DATA)")
def test_real_datasets():
    skab = read_series(DATA / "skab" / "valve1" / "00.csv")
    assert skab.n_channels == 8 and "changepoint" not in skab.channels and "is_anomaly" not in skab.channels
    assert skab.time_col == "timestamp" and skab.timestamps.dtype == np.dtype("datetime64[ns]")
    assert skab.labels is not None and set(np.unique(skab.labels)) <= {0, 1} and skab.labels.any()

    smd = read_series(DATA / "smd" / "machine-1-6" / "test.parquet")
    assert smd.channels == [f"dim_{i:02d}" for i in range(1, 39)]
    assert smd.time_col == "t" and smd.values.dtype == np.float32 and smd.labels.any()
