"""Synthetic labelled data and loaders for the public anomaly-detection datasets.

Two synthetic generators give every part of tsgan data with known answers: `make_industrial` (plant sensors
with six kinds of labelled anomalies) and `make_pmu` (a micro-PMU stream with labelled power-quality events).
Both inject anomalies through one mechanism (`tsgan.inject`): a registry of `AnomalyKind`s, each an edit
of the rows it covers, so a new kind is one entry in `INDUSTRIAL_ANOMALIES` or `PMU_EVENTS`.

`load_dataset("smd/machine-1-6")` reads the public benchmarks (SKAB, SMD, ASD, NAB, SMAP, MSL, UCR) from
their usual layouts into train/test `Split`s. The data itself is never shipped with tsgan: see
`datasets/README.md` for where to get each one and how tsgan splits it.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from tsgan.errors import ConfigError, DatasetError, InputError
from tsgan.inject import INDUSTRIAL_ANOMALIES, AnomalyKind, Context, inject
from tsgan.series import Series

__all__ = [
    "DATASETS",
    "INDUSTRIAL_ANOMALIES",
    "PMU_CHANNELS",
    "PMU_EVENTS",
    "AnomalyKind",
    "Context",
    "Split",
    "data_root",
    "load_csv_split",
    "load_tsb_file",
    "load_dataset",
    "make_industrial",
    "make_pmu",
    "write_samples",
]


def _smooth_noise(rng: np.random.Generator, rows: int, every: float, cols: int = 1) -> np.ndarray:
    """(rows, cols) smooth noise: N(0, 1) knots every `every` rows, joined by cosine interpolation."""
    every = max(float(every), 1.0)
    knots = rng.standard_normal((int(rows / every) + 2, cols))
    pos = np.arange(rows) / every
    i = pos.astype(np.int64)
    w = ((1.0 - np.cos(np.pi * (pos - i))) / 2.0)[:, None]
    return knots[i] * (1.0 - w) + knots[i + 1] * w


def _timestamps(start: str, rows: int, step_seconds: float) -> np.ndarray:
    """datetime64[ns] timestamps from `start`, `step_seconds` apart (rounded to the nanosecond)."""
    offsets = np.round(np.arange(rows) * step_seconds * 1e9).astype(np.int64)
    return np.datetime64(start, "ns") + offsets.astype("timedelta64[ns]")


# --------------------------------------------------------------------------------------------------------
# Industrial sensors
# --------------------------------------------------------------------------------------------------------

# (name, typical level, spread) of the sensor kinds, assigned to channels in turn.
_SENSORS = [
    ("temp", 60.0, 5.0),
    ("pressure", 4.0, 0.3),
    ("flow", 120.0, 10.0),
    ("vibration", 2.5, 0.4),
    ("current", 35.0, 4.0),
]
_PLANT_SEED = 20260101


def make_industrial(
    n_rows: int = 5000,
    n_channels: int = 8,
    *,
    anomalies: bool = True,
    n_anomalies: int = 8,
    start: str = "2026-01-01",
    freq_seconds: float = 60,
    seed: int = 0,
) -> Series:
    """Plant sensors (temp_1, pressure_1, flow_1, vibration_1, current_1, temp_2, ...) with anomalies.

    Each channel is a fixed mix of four latent factors (a daily cycle as sine and cosine of the time of
    day, a slow and a faster smooth process) plus noise. The plant (sensor levels, mixing weights) depends
    only on n_channels, so series made with different seeds (say a training and a test day) come from the
    same plant; `seed` draws the factor paths, the noise and the anomalies. With anomalies=False the data
    is clean and all labels are 0. `meta["anomalies"]` lists {kind, start, end (inclusive rows), channels}.
    """
    if n_rows < 2 or n_channels < 1:
        raise ConfigError(f"need n_rows >= 2 and n_channels >= 1, got {n_rows} and {n_channels}")
    plant = np.random.default_rng([_PLANT_SEED, n_channels])
    kinds = [_SENSORS[i % len(_SENSORS)] for i in range(n_channels)]
    channels = [f"{name}_{i // len(_SENSORS) + 1}" for i, (name, _, _) in enumerate(kinds)]
    level = np.array([lv for _, lv, _ in kinds]) * plant.uniform(0.9, 1.1, n_channels)
    spread = np.array([sp for _, _, sp in kinds]) * plant.uniform(0.8, 1.2, n_channels)
    weights = plant.standard_normal((4, n_channels)) * np.array([[1.5], [1.5], [1.0], [0.7]])
    weights /= np.linalg.norm(weights, axis=0)

    rng = np.random.default_rng(seed)
    timestamps = _timestamps(start, n_rows, freq_seconds)
    day = 2 * np.pi * (timestamps - timestamps.astype("datetime64[D]")).astype(np.int64) / 86_400e9
    rows_per_day = 86_400 / freq_seconds
    factors = np.column_stack(
        [
            np.sin(day),
            np.cos(day),
            _smooth_noise(rng, n_rows, rows_per_day / 4)[:, 0],
            _smooth_noise(rng, n_rows, 20)[:, 0],
        ]
    )
    z = factors @ weights + 0.3 * rng.standard_normal((n_rows, n_channels))
    values = level + spread * z

    ctx = Context(rng, channels, values.std(axis=0), 1.0 / freq_seconds)
    labels, channel_labels, records = inject(
        values, INDUSTRIAL_ANOMALIES, n_anomalies if anomalies else 0, ctx, 1
    )
    return Series(
        values=values,
        channels=channels,
        timestamps=timestamps,
        labels=labels,
        channel_labels=channel_labels,
        name="synthetic/industrial",
        time_col="timestamp",
        meta={"anomalies": records, "seed": seed},
    )


# --------------------------------------------------------------------------------------------------------
# Micro-PMU
# --------------------------------------------------------------------------------------------------------

_PHASES = "ABC"
PMU_CHANNELS = [f"{q}{p}_{part}" for q in "VI" for p in _PHASES for part in ("mag", "ang")] + [
    "freq",
    "rocof",
]
_V_NOMINAL = 7200.0  # V line-to-neutral (12.47 kV line-to-line distribution feeder)
_F_NOMINAL = 60.0  # Hz


def _phase_cols(ctx: Context, quantity: str, phases, part: str) -> list[int]:
    """Columns of `quantity` ("V" or "I") and `part` ("mag" or "ang") for phase indices `phases`."""
    return ctx.cols(*(f"{quantity}{_PHASES[p]}_{part}" for p in phases))


def _ramp(rows: int, edge: int) -> np.ndarray:
    """(rows, 1) envelope rising from 0 to 1 over `edge` rows and back at the end (phasor estimate blur)."""
    k = np.arange(rows)
    return np.clip(np.minimum(k + 1, rows - k) / max(edge, 1), 0.0, 1.0)[:, None]


def _voltage_sag(x: np.ndarray, ctx: Context) -> list[int]:
    """A fault elsewhere: 1-3 phases keep 50-90% of their voltage, their load current drops with it, and
    their angle jumps back by up to 10 degrees."""
    phases = ctx.rng.choice(3, size=int(ctx.rng.integers(1, 4)), replace=False)
    depth = ctx.rng.uniform(0.1, 0.5, len(phases)) * _ramp(len(x), 2)
    jump = -ctx.rng.uniform(5, 20, len(phases)) * depth
    for quantity in "VI":
        x[:, _phase_cols(ctx, quantity, phases, "mag")] *= 1.0 - depth
        x[:, _phase_cols(ctx, quantity, phases, "ang")] += jump
    return [c for q in "VI" for part in ("mag", "ang") for c in _phase_cols(ctx, q, phases, part)]


def _capacitor_switching(x: np.ndarray, ctx: Context) -> list[int]:
    """A capacitor bank in service for the window: voltage up 1-2.5%, a leading 20-40 A current added to
    each phase (magnitude and angle step), and a ringing transient in the first frames after closing."""
    vm, va = _phase_cols(ctx, "V", range(3), "mag"), _phase_cols(ctx, "V", range(3), "ang")
    im, ia = _phase_cols(ctx, "I", range(3), "mag"), _phase_cols(ctx, "I", range(3), "ang")
    t = np.arange(len(x))[:, None] / ctx.rate
    ring = np.exp(-t / 0.03) * np.cos(2 * np.pi * 13.0 * t)
    x[:, vm] *= 1.0 + ctx.rng.uniform(0.01, 0.025) + ctx.rng.uniform(0.03, 0.08) * ring
    x[:, va] += ctx.rng.uniform(0.5, 2.0) * ring * ctx.signs(3)
    current = x[:, im] * np.exp(1j * np.deg2rad(x[:, ia]))
    current += ctx.rng.uniform(20, 40) * x[:, vm] / _V_NOMINAL * np.exp(1j * np.deg2rad(x[:, va] + 90.0))
    x[:, im], x[:, ia] = np.abs(current), np.rad2deg(np.angle(current))
    return vm + va + im + ia


def _oscillation(x: np.ndarray, ctx: Context) -> list[int]:
    """Sub-synchronous oscillation: all magnitudes modulated at 2-25 Hz, growing and dying out (Hann)."""
    vm, im = _phase_cols(ctx, "V", range(3), "mag"), _phase_cols(ctx, "I", range(3), "mag")
    f = ctx.rng.uniform(2.0, min(25.0, 0.4 * ctx.rate))
    wave = np.hanning(len(x))[:, None] * np.sin(2 * np.pi * f * np.arange(len(x))[:, None] / ctx.rate)
    x[:, vm] *= 1.0 + ctx.rng.uniform(0.005, 0.02) * wave
    x[:, im] *= 1.0 + ctx.rng.uniform(0.02, 0.08) * wave
    return vm + im


def _voltage_swell(x: np.ndarray, ctx: Context) -> list[int]:
    """The healthy phases of a ground fault elsewhere: 1-2 phases rise 8-25% with 2-frame edges, their
    (constant-impedance) load current rises with them and their angle moves forward by up to 5 degrees."""
    phases = ctx.rng.choice(3, size=int(ctx.rng.integers(1, 3)), replace=False)
    rise = ctx.rng.uniform(0.08, 0.25, len(phases)) * _ramp(len(x), 2)
    for quantity in "VI":
        x[:, _phase_cols(ctx, quantity, phases, "mag")] *= 1.0 + rise
        x[:, _phase_cols(ctx, quantity, phases, "ang")] += ctx.rng.uniform(5, 20, len(phases)) * rise
    return [c for q in "VI" for part in ("mag", "ang") for c in _phase_cols(ctx, q, phases, part)]


def _add_current(x: np.ndarray, ctx: Context, amps: np.ndarray, lag: np.ndarray) -> None:
    """Add a current of `amps` (rows, 1) lagging each phase voltage by `lag` degrees to all three phases."""
    im, ia = _phase_cols(ctx, "I", range(3), "mag"), _phase_cols(ctx, "I", range(3), "ang")
    va = _phase_cols(ctx, "V", range(3), "ang")
    current = x[:, im] * np.exp(1j * np.deg2rad(x[:, ia])) + amps * np.exp(1j * np.deg2rad(x[:, va] - lag))
    x[:, im], x[:, ia] = np.abs(current), np.rad2deg(np.angle(current))


def _motor_start(x: np.ndarray, ctx: Context) -> list[int]:
    """A large induction motor starting: a locked-rotor inrush of 30-100% of the feeder current at a 66-78
    degree lag (power factor 0.2-0.4) on all three phases, held while the motor accelerates (40-70% of
    the event), then falling away as it reaches speed; the voltage dips 1-4% with the inrush."""
    vm = _phase_cols(ctx, "V", range(3), "mag")
    im = _phase_cols(ctx, "I", range(3), "mag")
    k = np.arange(len(x))
    accelerate = ctx.rng.uniform(0.4, 0.7) * len(x)
    fall = np.clip((k - accelerate) / max(len(x) - accelerate, 1.0), 0.0, 1.0)
    envelope = (np.minimum((k + 1) / 2, 1.0) * (1.0 + np.cos(np.pi * fall)) / 2)[:, None]
    inrush = ctx.rng.uniform(0.3, 1.0) * np.median(x[:, im]) * envelope
    x[:, vm] *= 1.0 - ctx.rng.uniform(0.01, 0.04) * envelope
    _add_current(x, ctx, inrush, ctx.rng.uniform(66, 78))
    return vm + im + _phase_cols(ctx, "I", range(3), "ang")


def _pv_trip(x: np.ndarray, ctx: Context) -> list[int]:
    """A PV plant's inverters trip: the 10-40% of the load current they supplied (in phase with the
    voltage) now comes through the feeder head on all phases, and the voltage they held up drops 0.3-1.5%;
    they reconnect with a ramp over the last 30-50% of the event."""
    vm = _phase_cols(ctx, "V", range(3), "mag")
    im = _phase_cols(ctx, "I", range(3), "mag")
    k = np.arange(len(x))
    ramp_from = (1.0 - ctx.rng.uniform(0.3, 0.5)) * len(x)
    envelope = np.clip(np.minimum((k + 1) / 2, (len(x) - k) / (len(x) - ramp_from)), 0.0, 1.0)[:, None]
    x[:, vm] *= 1.0 - ctx.rng.uniform(0.003, 0.015) * envelope
    _add_current(x, ctx, ctx.rng.uniform(0.1, 0.4) * np.median(x[:, im]) * envelope, np.zeros(1))
    return vm + im + _phase_cols(ctx, "I", range(3), "ang")


def _angle_change(x: np.ndarray, ctx: Context, df: np.ndarray) -> list[int]:
    """Add a frequency change df (rows,) in Hz: freq moves by df, rocof by its slope, and every phasor
    angle by its running integral (angles are measured against a fixed 60 Hz reference)."""
    angles = [ctx.channels.index(f"{q}{p}_ang") for q in "VI" for p in _PHASES]
    f, rocof = ctx.cols("freq", "rocof")
    x[:, f] += df
    x[:, rocof] += np.gradient(df) * ctx.rate if len(x) > 1 else 0.0
    x[:, angles] += (360.0 * np.cumsum(df) / ctx.rate)[:, None]
    return angles + [f, rocof]


def _frequency_excursion(x: np.ndarray, ctx: Context) -> list[int]:
    """A generation-load imbalance on the bulk grid: frequency swings 30-150 mHz down and back up as
    governors respond (a Hann-windowed sine period, so the angles that drift with it return), rocof with
    it; seen alike by every phasor angle."""
    k = np.arange(len(x))
    swing = -np.sin(2 * np.pi * k / len(x)) * np.hanning(len(x))
    return _angle_change(x, ctx, ctx.rng.uniform(0.03, 0.15) * swing)


def _phase_angle_jump(x: np.ndarray, ctx: Context) -> list[int]:
    """A switching upstream (a parallel path opening, then closing again): every angle steps by 3-15
    degrees either way and the voltage by 0.5-2%, with the frequency and rocof spikes a PMU reports when
    the phase steps within two frames."""
    vm = _phase_cols(ctx, "V", range(3), "mag")
    step = ctx.signs(1)[0] * ctx.rng.uniform(3, 15)
    edge = min(2, len(x) // 2)
    df = np.zeros(len(x))
    df[:edge] = step / 360.0 * ctx.rate / max(edge, 1)
    df[len(x) - edge :] -= step / 360.0 * ctx.rate / max(edge, 1)
    x[:, vm] *= 1.0 + ctx.signs(1)[0] * ctx.rng.uniform(0.005, 0.02) * _ramp(len(x), edge)
    return vm + _angle_change(x, ctx, df)


PMU_EVENTS: dict[str, AnomalyKind] = {
    "voltage_sag": AnomalyKind((0.05, 0.5), _voltage_sag),
    "capacitor_switching": AnomalyKind((1.0, 5.0), _capacitor_switching),
    "oscillation": AnomalyKind((1.0, 4.0), _oscillation),
    "voltage_swell": AnomalyKind((0.05, 0.5), _voltage_swell),
    "motor_start": AnomalyKind((1.0, 5.0), _motor_start),
    "pv_trip": AnomalyKind((2.0, 8.0), _pv_trip),
    "frequency_excursion": AnomalyKind((2.0, 8.0), _frequency_excursion),
    "phase_angle_jump": AnomalyKind((0.2, 2.0), _phase_angle_jump),
}


def _wrap_degrees(a: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-180, 180], in float32 (so that rounding cannot turn -179.9999999 into -180)."""
    wrapped = 180.0 - np.mod(180.0 - a.astype(np.float32), np.float32(360.0))
    return np.where(wrapped <= -180.0, np.float32(180.0), wrapped)


def make_pmu(
    seconds: float = 60.0,
    *,
    rate: int = 120,
    events: bool = True,
    n_events: int = 3,
    seed: int = 0,
    station: str = "PMU1",
    kinds: Sequence[str] | None = None,
) -> Series:
    """A micro-PMU stream on a 7.2 kV (line-to-neutral), 60 Hz feeder with labelled events.

    Channels: VA_mag, VA_ang, VB_mag, ..., IC_ang (volts, amperes, degrees in (-180, 180] against a 60 Hz
    reference), freq (Hz) and rocof (Hz/s), at `rate` frames per second. The station name fixes the
    feeder (phase imbalance, load level, power factor); `seed` draws the load variation, noise and events.
    Events are drawn from `PMU_EVENTS` (or only its `kinds`) and are listed in `meta["anomalies"]` like
    industrial anomalies.
    """
    rows = int(round(seconds * rate))
    if rows < 2:
        raise ConfigError(f"seconds * rate must give at least 2 frames, got {seconds} s at {rate} fps")
    unknown = sorted(set(kinds or ()) - set(PMU_EVENTS))
    if unknown or (kinds is not None and not kinds):
        raise ConfigError(
            f"unknown PMU event kinds {unknown or '(none given)'}; known: {', '.join(PMU_EVENTS)}"
        )
    chosen = {k: PMU_EVENTS[k] for k in kinds} if kinds is not None else PMU_EVENTS
    feeder = np.random.default_rng([_PLANT_SEED, zlib.crc32(station.encode())])
    v_level = _V_NOMINAL * feeder.uniform(0.99, 1.02) * (1 + feeder.normal(0, 0.004, 3))
    i_level = feeder.uniform(200, 400) * (1 + feeder.normal(0, 0.04, 3))
    pf_angle = feeder.uniform(18, 26, 3)  # degrees, current lagging voltage
    v_angle0 = feeder.uniform(-180, 180) + np.array([0.0, -120.0, 120.0]) + feeder.normal(0, 0.2, 3)

    rng = np.random.default_rng(seed)
    load = 1 + 0.08 * _smooth_noise(rng, rows, 30 * rate) + 0.03 * _smooth_noise(rng, rows, 3 * rate)
    load = load + 0.02 * _smooth_noise(rng, rows, 10 * rate, 3)  # (rows, 3): each phase's own share
    f_true = _F_NOMINAL + 0.012 * _smooth_noise(rng, rows, 20 * rate)[:, 0]
    v_mag = v_level * (1 + 0.003 * _smooth_noise(rng, rows, 20 * rate) - 0.2 * (load - 1))
    v_ang = v_angle0 + 360.0 * np.cumsum(f_true - _F_NOMINAL)[:, None] / rate
    i_ang = v_ang - pf_angle - _smooth_noise(rng, rows, 15 * rate, 3)

    phasors = {  # (magnitude, angle) per phase, with measurement noise
        "V": (
            v_mag * (1 + 2e-4 * rng.standard_normal((rows, 3))),
            v_ang + 0.01 * rng.standard_normal((rows, 3)),
        ),
        "I": (
            i_level * load * (1 + 1e-3 * rng.standard_normal((rows, 3))),
            i_ang + 0.05 * rng.standard_normal((rows, 3)),
        ),
    }
    values = np.column_stack(
        [phasors[q][part][:, p] for q in "VI" for p in range(3) for part in (0, 1)]
        + [
            f_true + 5e-4 * rng.standard_normal(rows),
            np.gradient(f_true) * rate + 3e-3 * rng.standard_normal(rows),
        ]
    )  # columns in PMU_CHANNELS order

    ctx = Context(rng, list(PMU_CHANNELS), values.std(axis=0), float(rate))
    labels, channel_labels, records = inject(values, chosen, n_events if events else 0, ctx, rate)
    angles = [i for i, c in enumerate(PMU_CHANNELS) if c.endswith("_ang")]
    values[:, angles] = _wrap_degrees(values[:, angles])
    return Series(
        values=values,
        channels=list(PMU_CHANNELS),
        timestamps=_timestamps("2026-01-01", rows, 1.0 / rate),
        labels=labels,
        channel_labels=channel_labels,
        name=f"synthetic/pmu/{station}",
        time_col="timestamp",
        meta={"anomalies": records, "seed": seed, "station": station, "rate": rate},
    )


# --------------------------------------------------------------------------------------------------------
# Sample files shipped in datasets/samples
# --------------------------------------------------------------------------------------------------------


def _write_csv(series: Series, path: Path, decimals: int) -> None:
    """Write `timestamp`, the channels and `is_anomaly` as CSV (to a temporary file, then renamed)."""
    labels = series.labels if series.labels is not None else np.zeros(len(series), dtype=np.int8)
    frame = pl.DataFrame(
        {"timestamp": series.timestamps}
        | {c: series.values[:, i] for i, c in enumerate(series.channels)}
        | {"is_anomaly": labels}
    )
    tmp = path.with_name(path.name + ".tmp")
    frame.write_csv(tmp, float_precision=decimals, datetime_format="%Y-%m-%d %H:%M:%S%.f")
    tmp.replace(path)


# The shipped PMU sample keeps the generator's first three event kinds, one of each.
_SAMPLE_PMU_KINDS = ("voltage_sag", "capacitor_switching", "oscillation")


def write_samples(folder: str | Path) -> list[Path]:
    """(Re)make the sample files of datasets/samples: industrial train/test and a short micro-PMU stream."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    samples = [
        ("industrial_train.csv", make_industrial(3000, 8, anomalies=False, seed=1), 4),
        ("industrial_test.csv", make_industrial(2000, 8, start="2026-01-03 02:00", seed=2), 4),
        ("pmu_sample.csv", make_pmu(10.0, n_events=3, seed=1, kinds=_SAMPLE_PMU_KINDS), 5),
    ]
    for name, series, decimals in samples:
        _write_csv(series, folder / name, decimals)
    return [folder / name for name, _, _ in samples]


# --------------------------------------------------------------------------------------------------------
# Public datasets
# --------------------------------------------------------------------------------------------------------

_DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets"
_NAB_PROBATION = 0.15  # NAB's probationary share of each file, capped at 0.15 * 5000 = 750 rows


@dataclass
class Split:
    """One train/test pair of a dataset: `name` like "skab/valve1/00"; the test series carries the labels."""

    name: str
    train: Series
    test: Series


def data_root(root: str | Path | None = None) -> Path:
    """The folder holding the public datasets.

    `root` if given (and only it), else $TSGAN_DATA if set, else ../shared/datasets beside the repository.
    """
    if root is not None:
        places = [("root argument", Path(root))]
    else:
        env = os.environ.get("TSGAN_DATA")
        places = ([("TSGAN_DATA", Path(env))] if env else []) + [("default", _DEFAULT_ROOT)]
    for _, place in places:
        if place.expanduser().is_dir():
            return place.expanduser().resolve()
    looked = "; ".join(f"{why}: {place}" for why, place in places)
    raise DatasetError(
        f"no dataset folder found (looked at {looked}); pass root=<folder> or set TSGAN_DATA=<folder>"
    )


def _read_table(
    path: Path, *, label_col: str = "is_anomaly", time_col: str | None = None, drop: tuple[str, ...] = ()
) -> Series:
    """Read a CSV or Parquet table into a Series: time column -> timestamps, `label_col` -> labels (if
    present), every other column except `drop` -> a channel. The time column is `time_col`, else the first
    column holding dates."""
    if not path.is_file():
        raise InputError(f"{path} not found")
    try:
        frame = (
            pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=True)
        )
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"{path} cannot be read: {e}") from e
    if time_col is None:
        time_col = next((c for c, t in frame.schema.items() if t.is_temporal()), None)
    elif time_col not in frame.columns:
        raise InputError(f"{path}: no time column {time_col!r}; columns are {frame.columns}")
    timestamps = None
    if time_col is not None:
        times = frame[time_col]
        times = times.str.to_datetime() if times.dtype == pl.String else times
        timestamps = times.cast(pl.Datetime("ns")).to_numpy()
    labels = None
    if label_col in frame.columns:
        labels = frame[label_col].fill_null(0).to_numpy()
        if not np.isin(labels, (0, 1)).all():
            raise InputError(f"{path}: label column {label_col!r} must hold only 0 and 1")
        labels = labels.astype(np.int8)
    channels = [c for c in frame.columns if c not in {time_col, label_col, *drop}]
    wrong = [c for c in channels if not frame.schema[c].is_numeric()]
    if wrong or not channels:
        raise InputError(f"{path}: channels must be numeric, got non-numeric {wrong or 'none at all'}")
    return Series(
        values=frame.select(pl.col(channels).cast(pl.Float32)).to_numpy(),
        channels=channels,
        timestamps=timestamps,
        labels=labels,
        name=str(path),
        time_col=time_col,
    )


def _split(name: str, train: Series, test: Series) -> Split:
    """A Split, after checking that train and test have the same channels and the test has labels."""
    if train.channels != test.channels:
        raise InputError(f"{name}: train channels {train.channels} differ from test channels {test.channels}")
    if test.labels is None:
        raise InputError(f"{name}: the test data {test.name} has no label column")
    return Split(name, train, test)


def load_csv_split(
    train_path: str | Path, test_path: str | Path, label_col: str = "is_anomaly", time_col: str | None = None
) -> Split:
    """A Split from any two CSV/Parquet files; the test file must have the 0/1 column `label_col`."""
    train = _read_table(Path(train_path), label_col=label_col, time_col=time_col)
    test = _read_table(Path(test_path), label_col=label_col, time_col=time_col)
    return _split(Path(test_path).stem, train, test)


_TSB_TRAIN = re.compile(r"_tr_(\d+)_")


def load_tsb_file(path: str | Path, train_rows: int | None = None) -> Split:
    """A Split from one file in TSB-AD's layout (Liu & Paparrizos, NeurIPS 2024): a CSV of channels and
    a 0/1 `Label` column, named `<index>_<dataset>_id_<id>_<domain>_tr_<train rows>_1st_<first anomaly>`.
    As TSB-AD does, the detector trains on the first `train rows` and the whole series is scored;
    `train_rows` overrides the name's."""
    path = Path(path)
    if train_rows is None:
        found = _TSB_TRAIN.search(path.stem)
        if found is None:
            raise InputError(
                f"{path}: no training length in the name (TSB-AD names hold _tr_<rows>_); give --train-rows"
            )
        train_rows = int(found.group(1))
    whole = _read_table(path, label_col="Label")
    if not 0 < train_rows < len(whole):
        raise InputError(f"{path}: {train_rows} training rows do not fit its {len(whole)} rows")
    return _split(path.stem, whole.slice(0, train_rows), whole)


# Each layout: which items (test series) a dataset folder holds, and how to read one as (train, test).


def _skab_items(folder: Path) -> list[str]:
    return [p.relative_to(folder).with_suffix("").as_posix() for p in folder.glob("*/*.csv")]


def _skab_read(folder: Path, key: str) -> tuple[Series, Series]:
    """SKAB: every run is tested against the model of the shared anomaly-free run."""
    drop = ("changepoint",)
    return _read_table(folder / "anomaly_free.csv", drop=drop), _read_table(folder / f"{key}.csv", drop=drop)


def _entity_items(folder: Path) -> list[str]:
    return [d.name for d in folder.iterdir() if (d / "test.parquet").is_file()]


def _entity_read(folder: Path, key: str) -> tuple[Series, Series]:
    """SMD/ASD: <entity>/train.parquet and test.parquet, with per-channel test labels when present."""
    train = _read_table(folder / key / "train.parquet", drop=("t",))
    test = _read_table(folder / key / "test.parquet", drop=("t",))
    path = folder / key / "test_channel_labels.parquet"
    if path.is_file():
        marks = _read_table(path, drop=("t",))
        if marks.channels != test.channels or len(marks) != len(test):
            raise InputError(
                f"{path}: {marks.values.shape} with channels unlike the test's {test.values.shape}"
            )
        test.channel_labels = marks.values.astype(np.int8)
    return train, test


def _nab_items(folder: Path) -> list[str]:
    return [p.relative_to(folder).with_suffix("").as_posix() for p in folder.glob("*/*.csv")]


def _nab_read(folder: Path, key: str) -> tuple[Series, Series]:
    """NAB has no training split: train on its probationary period (first 15%, at most 750 rows) and test
    on the whole file, as NAB's scorer does."""
    whole = _read_table(folder / f"{key}.csv", drop=("anomaly_point",))
    probation = min(math.floor(_NAB_PROBATION * len(whole)), int(_NAB_PROBATION * 5000))
    return whole.slice(0, probation), whole


def _channel_items(folder: Path) -> list[str]:
    return [p.stem for p in (folder / "test").glob("*.parquet")]


def _channel_read(folder: Path, key: str) -> tuple[Series, Series]:
    """SMAP/MSL: train/<chan>.parquet and test/<chan>.parquet (telemetry value + command flags)."""
    return (
        _read_table(folder / "train" / f"{key}.parquet", drop=("t",)),
        _read_table(folder / "test" / f"{key}.parquet", drop=("t",)),
    )


_UCR_NAME = re.compile(r"^\d+_UCR_Anomaly_.+_(\d+)_(\d+)_(\d+)\.txt$")


def _ucr_items(folder: Path) -> list[str]:
    return [p.stem for p in folder.rglob("*.txt") if _UCR_NAME.match(p.name)]


def _ucr_read(folder: Path, key: str) -> tuple[Series, Series]:
    """UCR: one value per line; train = the first <trainEnd> rows, test = the rest. The anomaly runs from
    row <anomStart> to <anomEnd>, read as 1-based inclusive positions in the whole file."""
    path = next(folder.rglob(f"{key}.txt"))
    train_end, first, last = (int(g) for g in _UCR_NAME.match(path.name).groups())
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except ValueError as e:
        raise InputError(f"{path}: not one number per line ({e})") from e
    if not 0 < train_end < first <= last <= len(values):
        raise InputError(
            f"{path}: its name's rows ({train_end}, {first}, {last}) do not fit {len(values)} rows"
        )
    labels = np.zeros(len(values), dtype=np.int8)
    labels[first - 1 : last] = 1
    whole = Series(values=values, channels=["value"], labels=labels, name=str(path))
    test = whole.slice(train_end, len(whole))
    test.meta["first_row"] = train_end
    return whole.slice(0, train_end), test


@dataclass(frozen=True)
class _Layout:
    """Where a dataset's test series are (`items`), how to read one (`read`), its layout and its card."""

    items: Callable[[Path], list[str]]
    read: Callable[[Path, str], tuple[Series, Series]]
    layout: str
    card: str


_ENTITY_LAYOUT = "<entity>/train.parquet, test.parquet, optional test_channel_labels.parquet"
_CHANNEL_LAYOUT = "train/<chan>.parquet, test/<chan>.parquet"
_LAYOUTS: dict[str, _Layout] = {
    "skab": _Layout(_skab_items, _skab_read, "anomaly_free.csv, <group>/<run>.csv", "skab.md"),
    "smd": _Layout(_entity_items, _entity_read, _ENTITY_LAYOUT, "smd.md"),
    "asd": _Layout(_entity_items, _entity_read, _ENTITY_LAYOUT, "asd.md"),
    "nab": _Layout(_nab_items, _nab_read, "<category>/<series>.csv", "nab.md"),
    "smap": _Layout(_channel_items, _channel_read, _CHANNEL_LAYOUT, "smap_msl.md"),
    "msl": _Layout(_channel_items, _channel_read, _CHANNEL_LAYOUT, "smap_msl.md"),
    "ucr": _Layout(_ucr_items, _ucr_read, "NNN_UCR_Anomaly_<name>_<trainEnd>_<begin>_<end>.txt", "ucr.md"),
}
DATASETS = tuple(_LAYOUTS)  # the names load_dataset knows


def _natural(key: str) -> list:
    """Sort key that puts A-2 before A-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def load_dataset(name: str, root: str | Path | None = None) -> list[Split]:
    """Train/test splits of a public dataset, by name.

    `name` is a dataset ("smd", "smap", ...) for all its series, or narrowed by a path below it:
    "skab/valve1", "skab/valve1/03", "smd/machine-1-6", "nab/realTraffic", "smap/A-1", "ucr/001".
    Datasets are read from `data_root(root)/<dataset>/`.
    """
    family, _, sub = name.strip("/").partition("/")
    if family not in _LAYOUTS:
        raise DatasetError(f"unknown dataset {name!r}: known datasets are {', '.join(DATASETS)}")
    layout = _LAYOUTS[family]
    folder = data_root(root) / family
    if not folder.is_dir():
        raise DatasetError(
            f"dataset {family!r} not found: looked for {folder} (expected {layout.layout}); "
            f"datasets/{layout.card} says where to get it"
        )
    keys = sorted(
        (k for k in layout.items(folder) if not sub or k == sub or k.startswith((sub + "/", sub + "_"))),
        key=_natural,
    )
    if not keys:
        raise DatasetError(f"nothing matches {name!r} in {folder} (expected {layout.layout})")
    splits = []
    for key in keys:
        try:
            splits.append(_split(f"{family}/{key}", *layout.read(folder, key)))
        except InputError as e:
            raise DatasetError(f"{family}/{key}: {e}") from e
    return splits
