"""The command line end to end: fit, detect, the output files, and one-line errors for bad input."""

import json

import numpy as np
import polars as pl
import pytest
from conftest import needs_shared_data
from typer.testing import CliRunner

from tsgan_cli.main import app

TINY = ["--detector", "madgan", "--epochs", "2", "--window", "8", "--stride", "2", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    t = np.arange(700)
    base = np.sin(2 * np.pi * t / 40)
    values = np.stack([base, 0.5 * base + 1, np.cos(2 * np.pi * t / 40)], 1) + 0.05 * rng.normal(
        size=(700, 3)
    )
    stamps = np.datetime64("2026-01-01T00:00:00") + np.arange(700).astype("timedelta64[s]")
    frame = pl.DataFrame(
        {"timestamp": stamps.astype(str), "pump": values[:, 0], "valve": values[:, 1], "flow": values[:, 2]}
    )
    frame[:500].write_csv(folder / "normal.csv")
    run = frame[500:].with_columns(
        pl.Series("is_anomaly", np.r_[np.zeros(100), np.ones(10), np.zeros(90)].astype(int))
    )
    run = run.with_columns(
        pl.when(pl.col("is_anomaly") == 1).then(pl.col("valve") + 6).otherwise(pl.col("valve")).alias("valve")
    )
    run.write_csv(folder / "run.csv", separator=";")
    return folder


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def model(files):
    result = invoke("fit", files / "normal.csv", "-o", files / "pump.tsgan", *TINY)
    assert result.exit_code == 0, result.output
    return files / "pump.tsgan"


def test_detect_writes_intervals_and_scores(files, model):
    out, scores = files / "flagged.json", files / "scores.parquet"
    result = invoke("detect", files / "run.csv", "--model", model, "-o", out, "--scores", scores, "--quiet")
    assert result.exit_code == 0, result.output
    intervals = json.loads(out.read_text())
    assert intervals and {"start", "end", "start_time", "end_time", "peak_score", "channels"} <= set(
        intervals[0]
    )
    hit = [i for i in intervals if i["start"] <= 109 and i["end"] >= 100]
    assert hit and hit[0]["channels"][0] == "valve"
    assert hit[0]["start_time"].startswith("2026-01-01T00:")
    table = pl.read_parquet(scores)
    assert table.columns == ["timestamp", "score", "score_pump", "score_valve", "score_flow"]
    assert table.height == 200


def test_detect_prints_json_without_output_file(files, model):
    result = invoke("detect", files / "run.csv", "--model", model, "--quiet")
    assert result.exit_code == 0
    assert isinstance(json.loads(result.stdout), list)


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "missing.csv", "-o", "m.tsgan"], "missing.csv"),
        (["fit", "normal.csv", "-o", "m.tsgan", "--detector", "nope"], "unknown detector 'nope'"),
        (
            ["fit", "normal.csv", "-o", "m.tsgan", "--detector", "madgan", "--objective", "hinge"],
            "unknown objective 'hinge'",
        ),
        (["fit", "normal.csv", "-o", "m.tsgan", "--window", "400"], "too few to fit"),
        (
            ["fit", "normal.csv", "-o", "m.tsgan", "--budget-seconds", "0"],
            "budget_seconds must be > 0, got 0",
        ),
        (["fit", "normal.csv", "-o", "m.tsgan", "--param", "members=pca,nope"], "unknown auto member 'nope'"),
        (["fit", "normal.csv", "-o", "m.tsgan", "--epochs", "3"], "auto has no parameter epochs"),
        (
            ["fit", "normal.csv", "-o", "m.tsgan", "--detector", "pca", "--budget-seconds", "5"],
            "pca has no parameter budget_seconds",
        ),
        (["detect", "run.csv", "--model", "nothing.tsgan"], "no such model file"),
        (["detect", "normal.csv", "--model", "run.csv"], "not a tsgan model file"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(files, model, args, message, monkeypatch):
    monkeypatch.chdir(files)
    result = invoke(*args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_detect_with_missing_channel(files, model):
    pl.read_csv(files / "run.csv", separator=";").drop("flow").write_csv(files / "fewer.csv")
    result = invoke("detect", files / "fewer.csv", "--model", model, "--quiet")
    assert result.exit_code == 1 and "missing: flow" in result.stderr


def test_failed_detect_leaves_previous_output_intact(files, model):
    out = files / "keep.json"
    out.write_text("[]")
    invoke("detect", files / "missing.csv", "--model", model, "-o", out)
    assert out.read_text() == "[]"


def test_param_sets_any_detector_parameter_and_rejects_bad_ones(files, tmp_path):
    model = tmp_path / "z.tsgan"
    result = invoke("fit", files / "normal.csv", "-o", model, "--detector", "zscore", "--param", "smooth=3")
    assert result.exit_code == 0, result.output
    import tsgan

    assert tsgan.load(model).config.smooth == 3
    bad = invoke("fit", files / "normal.csv", "-o", model, "--detector", "zscore", "--param", "smooth")
    assert bad.exit_code == 1 and "--param expects KEY=VALUE" in bad.stderr
    unknown = invoke("fit", files / "normal.csv", "-o", model, "--detector", "zscore", "--param", "lam=1")
    assert unknown.exit_code == 1 and "zscore has no parameter lam" in unknown.stderr
    mistyped = invoke("fit", files / "normal.csv", "-o", model, "--detector", "zscore", "--param", "smooth=x")
    assert mistyped.exit_code == 1 and "smooth='x': expected int, found str" in mistyped.stderr
    assert len(mistyped.stderr.strip().splitlines()) == 1 and tsgan.load(model).config.smooth == 3  # kept


def test_evaluate_a_model_on_labelled_data(files, model):
    result = invoke("evaluate", files / "run.csv", "--model", model, "--quiet", "-o", files / "metrics.json")
    assert result.exit_code == 0, result.output
    assert "VUS-PR [threshold-free]" in result.stdout and "[oracle]" in result.stdout
    metrics = json.loads((files / "metrics.json").read_text())["metrics"]
    assert 0 <= metrics["VUS-PR [threshold-free]"] <= 1
    unlabelled = invoke("evaluate", files / "normal.csv", "--model", model, "--quiet")
    assert unlabelled.exit_code == 1 and "no label column" in unlabelled.stderr
    neither = invoke("evaluate", "--model", model)
    assert neither.exit_code == 1 and "give DATA with --model, DATA with --tsb" in neither.stderr


@needs_shared_data("skab", "valve2")
def test_bench_writes_a_table_and_does_not_recompute_finished_cells(tmp_path):
    args = [
        "bench",
        "--detectors",
        "zscore,random",
        "--datasets",
        "skab/valve2",
        "--out",
        tmp_path,
        "--quiet",
    ]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    table = (tmp_path / "table.md").read_text()
    assert "| zscore | skab/valve2 |" in table and "| random | skab/valve2 |" in table
    assert pl.read_csv(tmp_path / "table.csv").height == 2
    chart = (tmp_path / "chart.html").read_text()
    assert "VUS-PR (threshold-free)" in chart and '"zscore"' in chart and "valve2" in chart
    cells = sorted((tmp_path / "cells").iterdir())
    stamps = [p.stat().st_mtime_ns for p in cells]
    assert invoke(*args).exit_code == 0
    assert [p.stat().st_mtime_ns for p in cells] == stamps


def test_reference_rows_from_fit_and_from_detect(files, tmp_path):
    # The run sits 3 units higher than the normal file on every channel: without a reference the fixed
    # thresholds flag it whole; recalibrated on its first 80 rows, only the valve fault (rows 100-109) is.
    run = pl.read_csv(files / "run.csv", separator=";")
    run.with_columns(pl.col(c) + 3 for c in ("pump", "valve", "flow")).write_csv(tmp_path / "high.csv")
    plain, fitted = tmp_path / "plain.tsgan", tmp_path / "ref.tsgan"
    assert invoke("fit", files / "normal.csv", "-o", plain, "--detector", "zscore").exit_code == 0
    result = invoke("fit", files / "normal.csv", "-o", fitted, "--detector", "zscore", "--reference-rows", 80)
    assert result.exit_code == 0, result.output

    def flagged(model, *extra):
        out = tmp_path / "out.json"
        result = invoke("detect", tmp_path / "high.csv", "--model", model, "-o", out, "--quiet", *extra)
        assert result.exit_code == 0, result.output
        return {row for i in json.loads(out.read_text()) for row in range(i["start"], i["end"] + 1)}

    assert len(flagged(plain)) > 150
    for rows in (flagged(fitted), flagged(plain, "--reference-rows", 80)):
        assert set(range(100, 110)) <= rows and len(rows) < 20
    evaluated = invoke("evaluate", tmp_path / "high.csv", "--model", plain, "--reference-rows", 80, "--quiet")
    assert evaluated.exit_code == 0 and "first 80 rows of each series are its reference" in evaluated.stdout
    bad = invoke("detect", tmp_path / "high.csv", "--model", plain, "--reference-rows", 500, "--quiet")
    assert bad.exit_code == 1 and "200 rows is shorter than the 500 reference rows" in bad.stderr
    many = invoke(
        "detect",
        tmp_path / "high.csv",
        "--models",
        tmp_path,
        "--out-dir",
        tmp_path / "d",
        "--reference-rows",
        80,
    )
    assert many.exit_code == 1 and "--reference-rows applies to one file here" in many.stderr


@needs_shared_data("skab", "valve2")
def test_evaluate_a_public_dataset():
    result = invoke("evaluate", "--dataset", "skab/valve2", "--detector", "zscore", "--quiet")
    assert result.exit_code == 0, result.output
    assert "zscore on skab/valve2 (4 series" in result.stdout


def test_detect_and_evaluate_draw_a_page_with_plot(files, model):
    page = files / "report.html"
    args = ["-o", files / "f.json", "--plot", page, "--quiet"]
    result = invoke("detect", files / "run.csv", "--model", model, *args)
    assert result.exit_code == 0, result.output
    assert page.stat().st_size > 100_000 and "plotly" in page.read_text()[:200_000].lower()
    evaluated = files / "evaluated.html"
    result = invoke("evaluate", files / "run.csv", "--model", model, "--plot", evaluated, "--quiet")
    assert result.exit_code == 0 and evaluated.exists()
    plotted = invoke("plot", files / "run.csv", "--detections", files / "f.json", "-o", files / "again.html")
    assert plotted.exit_code == 0, plotted.output


def test_labels_reach_only_a_semi_supervised_detector(files, tmp_path):
    refused = invoke(
        "fit", files / "normal.csv", "-o", tmp_path / "z.tsgan", "--detector", "zscore", "--labels"
    )
    assert refused.exit_code == 1 and "zscore does not learn from labels" in refused.stderr
    unlabelled = invoke(
        "fit", files / "normal.csv", "-o", tmp_path / "e.tsgan", "--detector", "esad", "--labels"
    )
    assert unlabelled.exit_code == 1 and "has no label column" in unlabelled.stderr
    tiny = ["--epochs", "1", "--window", "8", "--param", "hidden=8", "--quiet"]
    esad = invoke(
        "fit", files / "run.csv", "-o", tmp_path / "e.tsgan", "--detector", "esad", "--labels", *tiny
    )
    assert esad.exit_code == 0, esad.output


@pytest.mark.parametrize(
    "command", ["fit", "detect", "evaluate", "bench", "plot", "simulate pmu", "pmu-serve", "stream"]
)
def test_every_command_prints_its_help(command):
    result = invoke(*command.split(), "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and "--help" in result.output


def test_evaluate_a_tsb_ad_file(tmp_path):
    from tsgan.datasets import make_industrial

    series = make_industrial(1200, 3, n_anomalies=3, seed=3)
    frame = pl.DataFrame({c: series.values[:, i] for i, c in enumerate(series.channels)})
    named = tmp_path / "001_Demo_id_1_Facility_tr_500_1st_600.csv"
    frame.with_columns(pl.Series("Label", series.labels)).write_csv(named)
    result = invoke(
        "evaluate", named, "--tsb", "--param", "members=knn,zscore", "-o", tmp_path / "m.json", "-q"
    )
    assert result.exit_code == 0, result.output
    assert "auto on the TSB-AD file" in result.stdout and "knn" in result.stdout
    assert 0 < json.loads((tmp_path / "m.json").read_text())["metrics"]["VUS-PR [threshold-free]"] <= 1
    # the name's training length can be overridden; a name without one needs --train-rows
    unnamed = tmp_path / "pump.csv"
    named.rename(unnamed)
    missing = invoke("evaluate", unnamed, "--tsb", "-q")
    assert missing.exit_code == 1 and "give --train-rows" in missing.stderr.strip()
    given = invoke("evaluate", unnamed, "--tsb", "--train-rows", 400, "--param", "members=zscore", "-q")
    assert given.exit_code == 0, given.output
    too_many = invoke("evaluate", unnamed, "--tsb", "--train-rows", 5000, "-q")
    assert too_many.exit_code == 1 and "do not fit its 1200 rows" in too_many.stderr
    frame.write_csv(unnamed)  # no Label column
    unlabelled = invoke("evaluate", unnamed, "--tsb", "--train-rows", 400, "-q")
    assert unlabelled.exit_code == 1 and "no label column" in unlabelled.stderr
    stray = invoke("evaluate", unnamed, "--model", "m.tsgan", "--train-rows", 400)
    assert stray.exit_code == 1 and "--train-rows goes with --tsb" in stray.stderr
