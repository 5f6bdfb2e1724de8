"""Hostile input, generated: random CSV and Parquet content for `tsgan.io.read_series`, random damage to
model files for the loader. Every case either reads correctly or ends in one TsganError line; never
another exception, and never a change to the input file. `-m slow` runs a longer profile."""

import hashlib
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsgan.artifacts import load_detector
from tsgan.detectors import make_detector
from tsgan.errors import TsganError
from tsgan.io import read_series

QUICK = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["nan", "NaN", "NA", "null", "", "inf", "-inf", "Infinity", "1e308", "1e-320", "-0"]),
)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
HEADER = st.one_of(TEXT, st.sampled_from(["timestamp", "time", "label", "is_anomaly", "a,b", '"q"', "ä ü"]))


@st.composite
def csv_bytes(draw) -> bytes:
    # Half the tables have plain distinct headers, so that many cases get past the header and the
    # reader's handling of the values is what is tested.
    plain = st.lists(
        st.sampled_from(["a", "b", "temp", "flow", "ä ü", "x y"]), min_size=1, max_size=4, unique=True
    )
    columns = draw(st.one_of(st.lists(HEADER, min_size=1, max_size=5), plain))
    sep = draw(st.sampled_from([",", ";", "\t"]))
    rows = draw(st.integers(0, 30))
    lines = [sep.join(_quoted(c, sep) for c in columns)]
    for _ in range(rows):
        width = len(columns) + draw(st.sampled_from([0] * 8 + [-1, 1]))  # ragged now and then
        cells = [draw(st.one_of(*[NUMBERS] * 8, TEXT)) for _ in range(max(width, 0))]
        lines.append(sep.join(_quoted(c, sep) for c in cells))
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return bom + text.encode("utf-8")


def _quoted(cell: str, sep: str) -> str:
    if any(ch in cell for ch in (sep, '"', "\n", "\r")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def frames(draw) -> pl.DataFrame:
    n = draw(st.integers(0, 20))
    columns = {}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["float", "int", "text", "bool", "null"]))
        if kind == "float":
            values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n))
        elif kind == "int":
            values = draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n))
        elif kind == "text":
            values = draw(st.lists(TEXT, min_size=n, max_size=n))
        elif kind == "bool":
            values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        else:
            values = [None] * n
        columns[f"{draw(TEXT)}_{i}"] = values
    return pl.DataFrame(columns, strict=False)


def check_read(path) -> None:
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        with warnings.catch_warnings():  # columns ignored, gaps filled: warned about, and fine here
            warnings.simplefilter("ignore")
            series = read_series(path)
    except TsganError as exc:
        assert "\n" not in str(exc).strip(), str(exc)
    else:
        assert len(series) > 0 and series.values.dtype == np.float32
        assert np.isfinite(series.values).all() and len(set(series.channels)) == len(series.channels)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # nothing written to the input


def _csv_case(data: bytes, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    path.write_bytes(data)
    check_read(path)


@QUICK
@given(data=csv_bytes())
def test_random_csv_reads_or_fails_in_one_line(data, tmp_path_factory):
    _csv_case(data, tmp_path_factory)


@QUICK
@given(frame=frames())
def test_random_parquet_reads_or_fails_in_one_line(frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("pq") / "data.parquet"
    frame.write_parquet(path)
    check_read(path)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    t = np.arange(400)[:, None]
    path = tmp_path_factory.mktemp("model") / "m.tsgan"
    make_detector("pca").fit(np.sin(t / 7 + np.arange(3))).save(path)
    return path.read_bytes()


@st.composite
def damage(draw, size: int):
    edits = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, 255)), min_size=1, max_size=8))
    cut = draw(st.one_of(st.none(), st.integers(0, size)))
    return edits, cut


@QUICK
@given(data=st.data())
def test_damaged_model_files_load_or_fail_in_one_line(data, model_bytes, tmp_path_factory):
    edits, cut = data.draw(damage(len(model_bytes)))
    blob = bytearray(model_bytes)
    for at, value in edits:
        blob[at] = value
    path = tmp_path_factory.mktemp("bad") / "m.tsgan"
    path.write_bytes(bytes(blob[:cut]) if cut is not None else bytes(blob))
    try:
        det = load_detector(path)
    except TsganError as exc:
        assert "\n" not in str(exc).strip(), str(exc)
    else:
        t = np.arange(50)[:, None]
        assert det.score(np.sin(t / 7 + np.arange(3))).point.shape == (50,)


@pytest.mark.slow
@LONG
@given(data=csv_bytes())
def test_random_csv_long_profile(data, tmp_path_factory):
    _csv_case(data, tmp_path_factory)
