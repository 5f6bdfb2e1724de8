"""Plots of flagged intervals: panels, shaded bands, hover text, time axis, downsampling, pages, CLI."""

import json

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from tsgan.detectors import make_detector
from tsgan.detectors.base import Scores
from tsgan.errors import ConfigError, InputError
from tsgan.events import Interval
from tsgan.io import write_table_atomic
from tsgan.plot import (
    DETECTED,
    LABELLED,
    figure,
    minmax_indices,
    read_scores,
    write_html,
    write_png,
    write_report,
)
from tsgan.series import Series
from tsgan_cli.main import handles_errors, scores_table
from tsgan_cli.plot import plot

CHANNELS = ["pump", "valve", "flow", "temp"]


@pytest.fixture
def series() -> Series:
    """300 rows x 4 channels at 1 s, labelled on rows 100-119 and 200-204."""
    rng = np.random.default_rng(0)
    labels = np.zeros(300, dtype=np.int8)
    labels[100:120] = labels[200:205] = 1
    stamps = np.datetime64("2026-01-01T00:00:00", "ns") + np.arange(300) * np.timedelta64(1, "s")
    return Series(rng.normal(size=(300, 4)), CHANNELS, timestamps=stamps, labels=labels, name="run.csv")


@pytest.fixture
def intervals() -> list[Interval]:
    return [
        Interval(100, 115, 4.0, ["valve", "flow"], channel_scores=[3.0, 1.0]),
        Interval(150, 150, 2.0, ["temp"], channel_scores=[2.0]),
        Interval(200, 210, 9.0, ["valve"], channel_scores=[5.0]),
    ]


def scores_for(series: Series) -> Scores:
    point = np.linspace(-2, 2, len(series))
    return Scores(point, np.tile(point[:, None], (1, series.n_channels)), series.channels)


def panels(fig) -> list[str]:
    """The panel titles (channel names) from top to bottom."""
    return [a.text.split("<b>")[1].split("</b>")[0] for a in fig.layout.annotations if "<b>" in a.text]


def shapes(fig, name: str) -> list:
    return [s for s in fig.layout.shapes if s.name == name]


def trace(fig, name: str):
    return next(t for t in fig.data if t.name == name)


def test_one_panel_per_channel_then_the_score(series, intervals):
    fig = figure(series, intervals, scores_for(series))
    assert panels(fig) == CHANNELS
    assert sum(key.startswith("yaxis") for key in fig.to_dict()["layout"]) == len(CHANNELS) + 1


def test_top_k_channels_by_contribution_and_chosen_channels(series, intervals):
    # valve: 16 rows x 3 + 11 x 5 = 103; flow: 16 x 1 = 16; temp: 1 x 2 = 2; pump: 0
    assert panels(figure(series, intervals, top=2)) == ["valve", "flow"]
    assert panels(figure(series, intervals, channels=["temp", "pump"])) == ["temp", "pump"]
    assert panels(figure(series, intervals, channels=["temp", "pump", "flow"], top=1)) == ["flow"]


def test_one_band_per_interval_and_per_label_run(series, intervals):
    fig = figure(series, intervals)
    assert len(shapes(fig, DETECTED)) == len(intervals)
    assert len(shapes(fig, LABELLED)) == 2  # rows 100-119 and 200-204
    assert {s.fillcolor for s in shapes(fig, DETECTED)}.isdisjoint(
        {s.fillcolor for s in shapes(fig, LABELLED)}
    )
    assert sum(s.showlegend is True for s in fig.layout.shapes) == 2  # one legend entry each


def test_a_one_row_interval_gets_a_band_one_row_wide(series, intervals):
    band = shapes(figure(series, intervals), DETECTED)[1]  # row 150, 1 s per row
    assert band.x1 - band.x0 == pytest.approx(1000.0)  # milliseconds


def test_hover_text_lists_rows_times_peak_and_ranked_channels(series, intervals):
    intervals[0].start_time = "2026-01-01T00:01:40"
    peaks = trace(figure(series, intervals, scores_for(series)), "interval peak (hover: details)")
    assert len(peaks.hovertext) == len(intervals)
    first = peaks.hovertext[0]
    assert "rows 100-115" in first and "2026-01-01T00:01:40" in first and "peak score 4" in first
    assert "1. valve (3)<br>2. flow (1)" in first


def test_the_channels_that_drove_an_interval_are_drawn_in_red(series, intervals):
    fig = figure(series, intervals, max_points=1000)
    red = [t for t in fig.data if t.name == "channel that drove an interval"]
    assert len(red) == len(CHANNELS)
    valve = red[CHANNELS.index("valve")]
    drawn = np.asarray(valve.x)[np.isfinite(np.asarray(valve.y, dtype=float))]
    start = series.timestamps[100].astype("datetime64[ms]").astype(np.int64)
    assert drawn.min() == start - 1000  # from the row before the interval ...
    assert np.isnan(red[CHANNELS.index("pump")].y).all()  # ... and nothing where a channel drove none


def test_timestamps_on_the_x_axis_when_present_else_row_numbers(series, intervals):
    fig = figure(series, intervals)
    assert fig.layout.xaxis.type == "date"
    expected = series.timestamps.astype("datetime64[ms]").astype(np.int64)
    np.testing.assert_array_equal(fig.data[0].x, expected)
    series.timestamps = None
    fig = figure(series, intervals)
    assert fig.layout.xaxis.type == "linear"
    np.testing.assert_array_equal(fig.data[0].x, np.arange(300))


def test_downsampling_keeps_an_isolated_spike_and_says_so(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.normal(size=1_000_000).astype(np.float32)
    values[654_321] = 50.0
    series = Series(values, ["x"], name="big.csv")
    fig = figure(series, [Interval(654_321, 654_321, 50.0, ["x"])], max_points=20_000)
    line = fig.data[0]
    assert len(line.x) <= 20_000 + 8  # the budget, plus the first and last rows and interval edges
    assert float(np.max(line.y)) == 50.0 and line.x[int(np.argmax(line.y))] == 654_321
    assert "downsampled 50x" in fig.layout.title.subtitle.text
    write_html(fig, tmp_path / "big.html")
    page = (tmp_path / "big.html").read_text()
    assert "downsampled 50x" in page
    assert (tmp_path / "big.html").stat().st_size < 8_000_000


def test_minmax_indices_keeps_extremes_ends_and_asked_rows():
    y = np.zeros(1000)
    y[[10, 500]] = [-3.0, 7.0]
    rows = minmax_indices(y, 20, keep=np.array([333]))
    assert {0, 10, 333, 500, 999} <= set(rows.tolist()) and len(rows) <= 24
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(minmax_indices(y[:20], 20), np.arange(20))


def test_huge_scores_get_a_symmetric_log_axis(series, intervals):
    scores = scores_for(series)
    scores.point[150] = 1e5
    fig = figure(series, intervals, scores)
    axis = fig.layout[f"yaxis{len(CHANNELS) + 1}"]
    assert axis.title.text == "score (symlog)" and "100,000" in axis.ticktext and "0" in axis.ticktext
    score = trace(fig, "score")
    assert max(score.customdata) == 1e5 and max(score.y) == pytest.approx(np.log10(1e5 + 1))


def test_channel_scores_are_drawn_when_asked(series, intervals):
    scores = scores_for(series)
    scores.channel[:, 0] = -np.inf  # a channel excluded from scoring
    fig = figure(series, intervals, scores, top=2, channel_scores=True)
    assert {t.name for t in fig.data} >= {"score of valve", "score of flow"}


def test_page_is_self_contained_and_written_atomically(tmp_path, series, intervals):
    path = tmp_path / "report.html"
    write_report(series, [i.to_dict() for i in intervals], None, path)
    page = path.read_text()
    assert "plotly.js v" in page and '<script src="http' not in page
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_report_of_a_detection_uses_its_scores(tmp_path, sine_data):
    det = make_detector("zscore").fit(sine_data[:400])
    test = sine_data[400:].copy()
    test[100:110, 1] += 5
    result = det.detect(test)
    fig = write_report(Series(test, det.channels_), result, None, tmp_path / "r.html", top=1)
    assert panels(fig) == ["ch1"]
    assert len(shapes(fig, DETECTED)) == len(result.intervals) > 0
    np.testing.assert_allclose(trace(fig, "score").customdata, result.scores.point, rtol=1e-6)


@pytest.mark.parametrize(
    "interval, message",
    [
        ({"start": 290, "end": 300, "channels": []}, "outside the 300 rows"),
        ({"start": 5, "end": 4, "channels": []}, "outside the 300 rows"),
        ({"start": 5, "end": 6, "channels": ["nope"]}, "['nope']"),
        ({"start": "5", "end": 6}, "must be row numbers"),
        ({"end": 6}, "at least 'start' and 'end'"),
        (
            {"start": 5, "end": 6, "start_time": "2030-01-01T00:00:00"},
            "but row 5 of run.csv is at 2026-01-01",
        ),
        ({"start": 5, "end": 6, "start_time": "yesterday"}, "not an ISO 8601 time"),
    ],
)
def test_bad_intervals(series, interval, message):
    with pytest.raises(InputError) as caught:
        figure(series, [interval])
    assert message in str(caught.value)


def test_bad_options(series, intervals):
    with pytest.raises(ConfigError, match="unknown channels"):
        figure(series, intervals, channels=["nope"])
    with pytest.raises(ConfigError, match="top must be"):
        figure(series, intervals, top=0)
    with pytest.raises(InputError, match="score rows"):
        figure(series, intervals, Scores(np.zeros(5), np.zeros((5, 4)), CHANNELS))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_scores_files_read_back_with_unscored_channels(tmp_path, series, suffix):
    scores = scores_for(series)
    scores.channel[:, 2] = -np.inf  # a channel excluded from scoring: empty cells in the file
    path = tmp_path / f"scores{suffix}"
    write_table_atomic(scores_table(scores, series), path)
    back = read_scores(path)
    assert back.channels == CHANNELS
    np.testing.assert_allclose(back.point, scores.point, rtol=1e-6)
    np.testing.assert_allclose(back.channel, scores.channel, rtol=1e-6)


def test_png_without_kaleido_says_how_to_install_it_and_writes_nothing(
    tmp_path, series, intervals, monkeypatch
):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install 'tsgan\[png\]'"):
        write_png(figure(series, intervals), tmp_path / "r.png")
    with pytest.raises(ConfigError, match=r"pip install 'tsgan\[png\]'"):
        write_report(series, intervals, None, tmp_path / "r.html", png=tmp_path / "r.png")
    assert list(tmp_path.iterdir()) == []


# --- the command line --------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, series, intervals):
    frame = pl.DataFrame({"timestamp": series.timestamps.astype(str)})
    frame = frame.with_columns(
        *(pl.Series(c, series.values[:, k]) for k, c in enumerate(CHANNELS)),
        pl.Series("is_anomaly", series.labels),
    )
    frame.write_csv(tmp_path / "run.csv")
    intervals[0].start_time = "2026-01-01T00:01:40"  # row 100: checked against the data's times
    (tmp_path / "flagged.json").write_text(json.dumps([i.to_dict() for i in intervals]))
    table = scores_table(scores_for(series), series)
    table.write_parquet(tmp_path / "scores.parquet")
    table[:5].write_parquet(tmp_path / "short.parquet")
    return tmp_path


def invoke(*args):
    app = typer.Typer()
    app.command()(handles_errors(plot))
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_plot_writes_the_page(files):
    out = files / "report.html"
    result = invoke(
        files / "run.csv",
        "-d",
        files / "flagged.json",
        "-o",
        out,
        "--scores",
        files / "scores.parquet",
        "--top",
        2,
    )
    assert result.exit_code == 0, result.output
    assert "3 intervals on 300 rows" in result.stdout
    page = out.read_text()
    assert page.count(f'"name":"{DETECTED}"') == 3 and page.count(f'"name":"{LABELLED}"') == 2
    assert '"score"' in page and "valve" in page and "pump" not in page.split("<body>")[1]


@pytest.mark.parametrize(
    "change, args, message",
    [
        (None, ["-d", "missing.json"], "no such detections file"),
        ({"intervals": []}, [], "expected a JSON list of intervals"),
        ([{"start": 5, "end": 999, "channels": []}], [], "outside the 300 rows"),
        ("not json", [], "not valid JSON"),
        (None, ["--channels", "pump,nope"], "unknown channels ['nope']"),
        (None, ["--scores", "missing.parquet"], "no such scores file"),
        (None, ["--scores", "run.csv"], "no 'score' column"),
        (None, ["--scores", "short.parquet"], "5 score rows for 300 data rows"),
    ],
)
def test_cli_bad_input_is_one_line_and_nonzero(files, change, args, message, monkeypatch):
    monkeypatch.chdir(files)
    if change is not None:
        (files / "flagged.json").write_text(change if isinstance(change, str) else json.dumps(change))
    result = invoke("run.csv", "-d", "flagged.json", "-o", "report.html", *args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (files / "report.html").exists()
