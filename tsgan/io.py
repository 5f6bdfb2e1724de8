"""Reading multivariate time series from CSV and Parquet files with polars, and writing outputs atomically.

`read_series` turns a file into a `Series`. It picks the time, label and channel columns, checks the data
and refuses what the detectors cannot use with an `InputError` whose one-line message names the file, the
column, the row and the value, and says what to do. What it changes on the way (rows sorted, gaps filled,
columns ignored) it reports with a `TsganWarning`.

Auto-detection (explicit arguments always win, and a column named in `channels` is never auto-detected as
the time or label column). Columns are judged on the first 10,000 rows.

- time: the first column of datetime or date type; else the first text column named t, ts, time,
  timestamp, date or datetime (any case; also names ending in "time", "timestamp" or "date") whose values
  mostly parse as datetimes; else the first numeric column named t, time or timestamp whose values never
  decrease. A numeric time column is a plain row index: it orders the rows and is never a channel, but it
  is not converted to datetimes (seconds or milliseconds? epoch units are ambiguous), so
  `Series.timestamps` stays None while `Series.time_col` names it. Timezone-aware times are kept in UTC.
- labels: `is_anomaly`, then `label`, then `anomaly` (any case); the first present becomes
  `Series.labels` (int8 0/1). The other label-like columns (`changepoint`, `anomaly_point` and the unused
  label names) are left out of the channels without a warning.
- channels: every numeric column that is neither time nor label-like, plus text columns whose values are
  mostly (more than half) numbers, so that a stray bad cell is reported rather than its column dropped.
  Other columns (text, booleans, a second datetime column) are ignored with a warning.

Row numbers in messages count data rows from 1 (the first row under a CSV header is data row 1); for CSV
the line of the file is given too.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tsgan.errors import ConfigError, InputError, TsganWarning
from tsgan.series import Series

_PARQUET_SUFFIXES = (".parquet", ".pq")
_SEPARATORS = (",", ";", "\t")
_NULL_TOKENS = ["NA", "N/A", "null", "None"]
_SAMPLE_ROWS = 10_000
_TIME_NAMES = ("t", "ts", "time", "timestamp", "date", "datetime")
_TIME_SUFFIXES = ("time", "timestamp", "date")
_NUMERIC_TIME_NAMES = ("t", "time", "timestamp")
_LABEL_NAMES = ("is_anomaly", "label", "anomaly")
_LABEL_LIKE_NAMES = (*_LABEL_NAMES, "changepoint", "anomaly_point")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def read_series(
    path: str | os.PathLike[str],
    *,
    time_col: str | None = None,
    channels: list[str] | None = None,
    label_col: str | None = None,
    sort: bool = False,
    max_gap: int = 10,
    allow_long_gaps: bool = False,
) -> Series:
    """Read a CSV (comma, semicolon or tab separated) or Parquet (.parquet, .pq) file into a Series.

    Only the needed columns are read from the whole file (lazily). Rows must be in strictly increasing
    time order; `sort=True` sorts them and keeps the first of repeated times instead of refusing. Runs of
    up to `max_gap` missing values per channel are filled by linear interpolation (nearest value at the
    edges); a longer run is refused unless `allow_long_gaps=True`. See the module docstring for how the
    time, label and channel columns are chosen when not given.
    """
    if max_gap < 0:
        raise ConfigError(f"max_gap expected a number of rows >= 0, found {max_gap}")
    if channels is not None and (not channels or len(set(channels)) != len(channels)):
        raise ConfigError(f"channels expected a non-empty list of distinct column names, found {channels}")
    source = _Source.open(Path(path))
    sample = source.sample()
    if sample.height == 0:
        raise InputError(
            f"{source.path}: no data rows, found only the columns {sample.columns}; "
            "expected a header followed by rows of values"
        )

    explicit = set(channels or ())
    time_col = _find_time_col(sample, time_col, explicit, source)
    label_col, label_like = _find_label_cols(sample.columns, label_col, explicit | {time_col}, source)
    reserved = [c for c in (time_col, label_col) if c is not None]
    channels, notes = _find_channels(sample, channels, [*reserved, *label_like], source)
    numeric = [*channels, *([label_col] if label_col else [])]
    if time_col is not None and sample[time_col].dtype.is_numeric():
        numeric.append(time_col)
    df = _read_columns(source, [*reserved, *channels], numeric)

    order = np.arange(df.height)
    timestamps = None
    if time_col is not None:
        timestamps, keys = _time_keys(df[time_col], source)
        order, order_notes = _row_order(keys, df[time_col], sort, source)
        notes += order_notes
        timestamps = None if timestamps is None else timestamps[order]
    labels = None if label_col is None else _labels(df[label_col], source)[order]

    # Writable: gaps are filled in place, and a zero-copy view of the frame's memory is read-only.
    values = df.select(channels).to_numpy(writable=True)
    del df  # its copy of the values: a long file should not be held twice
    if (np.diff(order) != 1).any():  # reorder only when sorting moved rows (a copy of every value)
        values = values[order]
    _check_finite(values, channels, order, source)
    notes += _fill_gaps(values, channels, order, max_gap, allow_long_gaps, source)
    for note in notes:
        warnings.warn(f"{source.path}: {note}", TsganWarning, stacklevel=2)
    return Series(
        values=values.astype(np.float32),
        channels=channels,
        timestamps=timestamps,
        labels=labels,
        name=str(source.path),
        time_col=time_col,
    )


@dataclass(frozen=True)
class _Source:
    """A file being read: its path and, for CSV, its separator (None for Parquet).

    Knows how to scan it and how to say where a row is in terms the user sees in the file.
    """

    path: Path
    separator: str | None

    @classmethod
    def open(cls, path: Path) -> _Source:
        """Check the file exists and is not empty; sniff the separator of a CSV."""
        if not path.is_file():
            found = "a directory" if path.is_dir() else "nothing"
            raise InputError(f"{path}: expected a CSV or Parquet file, found {found}; check the path")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty (0 bytes); expected a header and rows of values")
        if path.suffix.lower() in _PARQUET_SUFFIXES:
            return cls(path, None)
        return cls(path, _sniff_separator(path))

    @property
    def kind(self) -> str:
        return "Parquet" if self.separator is None else "CSV"

    def scan(self, dtypes: dict[str, type[pl.DataType]] | None = None) -> pl.LazyFrame:
        """A lazy frame over the file; `dtypes` overrides what CSV schema inference would choose."""
        if self.separator is None:
            return pl.scan_parquet(self.path)
        return pl.scan_csv(
            self.path,
            separator=self.separator,
            null_values=_NULL_TOKENS,
            infer_schema_length=_SAMPLE_ROWS,
            schema_overrides=dtypes,
            encoding="utf8-lossy",
        )

    def sample(self) -> pl.DataFrame:
        """The first rows, with the dtypes polars infers from them; used to choose the columns."""
        if self.separator is None:
            return self.collect(self.scan().head(_SAMPLE_ROWS))
        try:
            schema = self.scan().collect_schema()
        except pl.exceptions.PolarsError as e:
            raise self.unreadable(e) from e
        # polars parses past the rows asked for, so a bad cell further down would fail here: read the
        # first rows as text and give the numeric columns their inferred type (the rest stay text).
        text = self.collect(self.scan(dict.fromkeys(schema, pl.String)).head(_SAMPLE_ROWS))
        return text.with_columns(pl.col(c).cast(t, strict=False) for c, t in schema.items() if t.is_numeric())

    def collect(self, lf: pl.LazyFrame) -> pl.DataFrame:
        """Collect, turning a polars failure into an InputError that names the file."""
        try:
            return lf.collect()
        except pl.exceptions.PolarsError as e:
            raise self.unreadable(e) from e

    def unreadable(self, e: Exception) -> InputError:
        """An InputError for a file polars cannot parse, quoting the first line of polars' reason."""
        reason = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        return InputError(
            f"{self.path}: polars could not read it as {self.kind} ({reason}); "
            f"check that it is a valid {self.kind} file with one value per column on every row"
        )

    def rows(self, indexes: Sequence[int], sep: str = ", ") -> str:
        """Where 0-based data rows are, as the user counts them: from 1, plus the file lines for CSV.

        `sep="-"` with two indexes writes a range.
        """
        shown = [int(i) for i in indexes[:5]]
        more = ", ..." if len(indexes) > 5 else ""
        plural = "s" if len(shown) > 1 else ""

        def numbers(offset: int) -> str:
            return sep.join(str(i + offset) for i in shown) + more

        if self.separator is None:
            return f"row{plural} {numbers(1)} (counting from 1)"
        return f"data row{plural} {numbers(1)} (line{plural} {numbers(2)} of the file)"


def _sniff_separator(path: Path) -> str:
    """The separator among comma, semicolon and tab that splits the first lines most consistently.

    Also refuses binary files here, since polars would read them as one strange text column.
    """
    with path.open("rb") as f:
        head = f.read(65536)
    if head.startswith(b"PAR1"):
        raise InputError(f"{path}: expected CSV text, found a Parquet file; rename it to end in .parquet")
    text = head.decode("utf-8", errors="replace")
    strange = sum(1 for ch in text if (ch < " " and ch not in "\t\r\n") or ch == "\ufffd")
    if "\0" in text or strange > 0.1 * len(text):
        raise InputError(
            f"{path}: expected CSV text (comma, semicolon or tab separated), found binary data; "
            "tsgan reads CSV and Parquet (.parquet, .pq) files"
        )
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()] or [""]

    def consistent(sep: str) -> int:
        counts = [ln.count(sep) for ln in lines]
        return counts[0] if all(n == counts[0] for n in counts) else 0

    return max(_SEPARATORS, key=lambda sep: (consistent(sep), lines[0].count(sep)))


def _require_columns(source: _Source, available: list[str], wanted: list[str], what: str) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        raise InputError(f"{source.path}: {what} {missing} not found; available columns: {available}")


def _find_time_col(
    sample: pl.DataFrame, time_col: str | None, taken: set[str], source: _Source
) -> str | None:
    """The given time column, or the first column that the rules in the module docstring accept."""
    if time_col is not None:
        _require_columns(source, sample.columns, [time_col], "time column")
        return time_col

    def is_datetime(name: str, s: pl.Series) -> bool:
        return s.dtype in (pl.Date, pl.Datetime)

    def is_datetime_text(name: str, s: pl.Series) -> bool:
        lower = name.lower()
        named = lower in _TIME_NAMES or lower.endswith(_TIME_SUFFIXES)
        return s.dtype == pl.String and named and _mostly(_parse_datetimes(s), s)

    def is_index(name: str, s: pl.Series) -> bool:
        if not (s.dtype.is_numeric() and name.lower() in _NUMERIC_TIME_NAMES):
            return False
        f = s.cast(pl.Float64).fill_nan(None)
        return f.null_count() == 0 and f.is_sorted()

    for rule in (is_datetime, is_datetime_text, is_index):
        for name in sample.columns:
            if name not in taken and rule(name, sample[name]):
                return name
    return None


def _find_label_cols(
    columns: list[str], label_col: str | None, taken: set[str | None], source: _Source
) -> tuple[str | None, list[str]]:
    """The label column (given, or the first of is_anomaly/label/anomaly) and the other label-like columns,
    which are kept out of the channels."""
    if label_col is not None:
        _require_columns(source, columns, [label_col], "label column")
    like = [c for c in columns if c.lower() in _LABEL_LIKE_NAMES and c not in taken]
    if label_col is None:
        label_col = next((c for name in _LABEL_NAMES for c in like if c.lower() == name), None)
    return label_col, [c for c in like if c != label_col]


def _find_channels(
    sample: pl.DataFrame, channels: list[str] | None, reserved: list[str], source: _Source
) -> tuple[list[str], list[str]]:
    """The given channels (checked), or every numeric column not reserved; and notes for the warnings."""
    if channels is not None:
        _require_columns(source, sample.columns, channels, "channels")
        clash = [c for c in channels if c in reserved]
        if clash:
            raise InputError(
                f"{source.path}: {clash} cannot be channels because they are the time or label column; "
                "choose other channels, or pass time_col/label_col to use other columns"
            )
        return list(channels), []

    chosen, ignored = [], []
    for name in sample.columns:
        s = sample[name]
        if name in reserved:
            continue
        if s.dtype.is_numeric() or (s.dtype == pl.String and _mostly(s.cast(pl.Float64, strict=False), s)):
            chosen.append(name)
        else:
            ignored.append(f"{name!r} ({s.dtype})")
    if not chosen:
        found = ", ".join(f"{c!r} ({t})" for c, t in sample.schema.items())
        raise InputError(
            f"{source.path}: expected at least one numeric column to use as a channel, found {found}; "
            "pass channels=[...] naming columns of numbers"
        )
    notes = [f"ignored columns that are not numbers: {', '.join(ignored)}"] if ignored else []
    return chosen, notes


def _mostly(parsed: pl.Series, raw: pl.Series) -> bool:
    """Whether more than half of the non-missing cells of `raw` survived parsing into `parsed`."""
    return parsed.is_not_null().sum() * 2 > raw.is_not_null().sum()


def _parse_datetimes(s: pl.Series) -> pl.Series:
    """Dates, datetimes or datetime text as naive datetime[ns] in UTC; unparseable cells become null."""
    if s.dtype == pl.String:
        try:
            s = s.str.to_datetime(time_unit="ns", strict=False)
        except pl.exceptions.ComputeError:  # polars found no datetime format at all
            return pl.Series(s.name, [None] * len(s), dtype=pl.Datetime("ns"))
    if isinstance(s.dtype, pl.Datetime) and s.dtype.time_zone is not None:
        s = s.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return s.cast(pl.Datetime("ns"))


def _read_columns(source: _Source, needed: list[str], numeric: list[str]) -> pl.DataFrame:
    """The needed columns of the whole file, `numeric` ones as Float64 (a bad cell is reported by row)."""
    try:
        df = source.scan({c: pl.Float64 for c in numeric}).select(needed).collect()
    except pl.exceptions.PolarsError as e:
        # polars names the value it could not parse but not its row: read those columns as text to find it.
        text = source.collect(source.scan({c: pl.String for c in numeric}).select(numeric))
        for name in numeric:
            _as_float(text[name], source)
        raise source.unreadable(e) from e
    return df.with_columns(_as_float(df[name], source) for name in numeric)


def _as_float(s: pl.Series, source: _Source) -> pl.Series:
    """The column as Float64; a cell that is not a number is an InputError naming its row and value."""
    if not (s.dtype.is_numeric() or s.dtype in (pl.String, pl.Boolean)):
        raise InputError(
            f"{source.path}: column {s.name!r} expected numbers, found type {s.dtype}; "
            "leave it out of channels"
        )
    out = s.cast(pl.Float64, strict=False)
    bad = (out.is_null() & s.is_not_null()).arg_true()
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"{source.path}: column {s.name!r} expected a number, found {s[i]!r} at {source.rows([i])}; "
            "fix that cell or leave it empty (empty cells count as missing), or leave the column out"
        )
    return out


def _shown(value: Any) -> str:
    return "an empty cell" if value is None else repr(value)


def _time_keys(s: pl.Series, source: _Source) -> tuple[np.ndarray | None, np.ndarray]:
    """Timestamps (datetime64[ns], or None for a numeric index) and the numbers that order the rows."""
    if s.dtype.is_numeric():
        parsed, expected = s.cast(pl.Float64).fill_nan(None), "a number"
    elif s.dtype in (pl.String, pl.Date, pl.Datetime):
        parsed, expected = _parse_datetimes(s), "a date/time"
    else:
        raise InputError(
            f"{source.path}: time column {s.name!r} expected datetimes, datetime text or numbers, "
            f"found type {s.dtype}; pass time_col naming another column"
        )
    missing = parsed.is_null().arg_true()
    if len(missing):
        i = int(missing[0])
        raise InputError(
            f"{source.path}: time column {s.name!r} expected {expected}, found {_shown(s[i])} at "
            f"{source.rows([i])}; fix that cell or remove its row"
        )
    if s.dtype.is_numeric():
        return None, parsed.to_numpy()
    timestamps = parsed.to_numpy()
    return timestamps, timestamps.view(np.int64)


def _row_order(keys: np.ndarray, raw: pl.Series, sort: bool, source: _Source) -> tuple[np.ndarray, list[str]]:
    """Indexes of the rows to keep, in time order, and notes for the warnings.

    Without `sort`, rows that go back in time or repeat a time are refused; with it they are sorted
    (stably) and only the first row of each repeated time is kept.
    """
    where, notes = f"time column {raw.name!r}", []
    order = np.arange(len(keys))
    backwards = np.flatnonzero(keys[1:] < keys[:-1]) + 1
    if len(backwards):
        i = int(backwards[0])
        went_back = f"time goes backwards at {source.rows([i])}: {raw[i]!r} comes after {raw[i - 1]!r}"
        if not sort:
            raise InputError(
                f"{source.path}: {where} expected increasing times, but {went_back}; "
                "sort the file by time or pass sort=True"
            )
        order = np.argsort(keys, kind="stable")
        notes.append(f"sorted the rows by {where} ({went_back})")

    repeats = np.flatnonzero(keys[order][1:] == keys[order][:-1]) + 1
    if len(repeats):
        first = int(order[repeats[0]])
        rows = np.flatnonzero(keys == keys[first])
        repeated = f"{raw[first]!r} appears at {source.rows(rows)}"
        if not sort:
            raise InputError(
                f"{source.path}: {where} expected unique times, but {repeated}; "
                "remove the repeated rows or pass sort=True to keep the first of each"
            )
        order = np.delete(order, repeats)
        notes.append(f"dropped {len(repeats)} rows repeating a time in {where}, kept the first ({repeated})")
    return order, notes


def _labels(s: pl.Series, source: _Source) -> np.ndarray:
    """The label column as int8 0/1; anything else (2, -1, empty) is refused with its row."""
    bad = (~s.is_in([0.0, 1.0])).fill_null(True).arg_true()
    if len(bad):
        i = int(bad[0])
        raise InputError(
            f"{source.path}: label column {s.name!r} expected 0 or 1, found {_shown(s[i])} at "
            f"{source.rows([i])}; fix the labels or pass label_col naming another column"
        )
    return s.to_numpy().astype(np.int8)


def _check_finite(values: np.ndarray, channels: list[str], rows: np.ndarray, source: _Source) -> None:
    """Refuse infinite values (and values too large for float32), naming the column and first row."""
    bad = np.argwhere(np.abs(values) > _FLOAT32_MAX)
    if len(bad):
        r, j = bad[0]
        raise InputError(
            f"{source.path}: column {channels[j]!r} expected finite values (|x| <= 3.4e38), found "
            f"{values[r, j]} at {source.rows([rows[r]])}; replace it or leave the cell empty"
        )


def _fill_gaps(
    values: np.ndarray,
    channels: list[str],
    rows: np.ndarray,
    max_gap: int,
    allow_long_gaps: bool,
    source: _Source,
) -> list[str]:
    """Fill missing values in place by linear interpolation (nearest value at the edges); notes for warnings.

    A channel with no values at all, or a run longer than `max_gap` rows (unless `allow_long_gaps`),
    is refused: interpolating across it would invent data the detector then learns from.
    """
    filled = {}
    index = np.arange(len(values))
    for j, name in enumerate(channels):
        col = values[:, j]
        missing = np.isnan(col)
        if not missing.any():
            continue
        if missing.all():
            raise InputError(
                f"{source.path}: column {name!r} expected numbers, found only missing values "
                f"({len(col)} rows); leave it out of channels"
            )
        edges = np.diff(np.concatenate(([0], missing.view(np.int8), [0])))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        long = np.flatnonzero(stops - starts > max_gap)
        if len(long) and not allow_long_gaps:
            start, stop = starts[long[0]], stops[long[0]]
            span = source.rows([rows[start], rows[stop - 1]], "-")
            raise InputError(
                f"{source.path}: column {name!r} expected gaps of at most max_gap={max_gap} rows, found "
                f"{stop - start} missing values in a row at {span}; "
                "fill them, raise max_gap, or pass allow_long_gaps=True to interpolate them anyway"
            )
        col[missing] = np.interp(index[missing], index[~missing], col[~missing])
        filled[name] = int(missing.sum())
    if not filled:
        return []
    counts = ", ".join(f"{n} in {name!r}" for name, n in filled.items())
    return [f"filled {sum(filled.values())} missing values by linear interpolation ({counts})"]


def write_table_atomic(df: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a polars DataFrame to .csv or .parquet/.pq (by extension) without ever leaving a half-written
    file: it goes to a temporary file in the same folder, which then replaces `path` in one step."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_atomic(path, df.write_csv)
    elif suffix in _PARQUET_SUFFIXES:
        write_atomic(path, df.write_parquet)
    else:
        raise ConfigError(f"{path}: expected a name ending in .csv, .parquet or .pq, found {suffix!r}")


def write_json_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write `obj` as indented JSON (numpy scalars and arrays allowed), atomically like write_table_atomic."""
    text = json.dumps(obj, indent=2, default=_json_default) + "\n"
    write_atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _json_default(obj: Any) -> Any:
    """What json cannot serialise by itself: numpy values and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(tmp) on `path.tmp-XXXXXXXX` beside `path`, flush it to disk, then rename it over `path`.

    On any failure the temporary file is removed and an existing `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        write(tmp)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
