"""Many assets: manifests and globs, the joblib and Ray engines, skipping on rerun, failures that do not stop
the others, the many-asset fit/detect of the command line, the model actor, and PMU streams on Ray actors."""

import functools
import importlib.util
import json
import os
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer

from tsgan.datasets import make_pmu
from tsgan.detectors import PCAReconstruction
from tsgan.errors import ConfigError, InputError, TsganError
from tsgan.scale import (
    ModelActor,
    Task,
    assets_from_paths,
    detect_task,
    fit_task,
    read_manifest,
    run_assets,
)
from tsgan.stream import PmuServer, simulated_feeds, truth
from tsgan.stream.workers import deal, pmu_addresses, run_on_ray
from tsgan_cli.scale import detect_many, fit_many, many_mode, one_input

HAS_RAY = importlib.util.find_spec("ray") is not None
ENGINE = dict(engine="local", jobs=1, ray_address=None, force=False, quiet=True)


def write_assets(folder: Path, n: int, broken: str | None = None) -> Path:
    """n assets of 200 rows x 2 channels, train and test files, and a manifest; `broken`'s training file
    has a cell that is not a number. Returns the manifest."""
    rows = []
    for i in range(n):
        rng = np.random.default_rng(i)
        for part in ("train", "test"):
            values = rng.normal(size=(200, 2))
            frame = pl.DataFrame({"a": values[:, 0].astype(str), "b": values[:, 1]})
            if f"a{i}" == broken and part == "train":
                frame[17, "a"] = "oops"
            (folder / part).mkdir(parents=True, exist_ok=True)
            frame.write_csv(folder / part / f"a{i}.csv")
        rows.append({"asset": f"a{i}", "train": f"train/a{i}.csv", "test": f"test/a{i}.csv"})
    pl.DataFrame(rows).write_csv(folder / "assets.csv")
    return folder / "assets.csv"


def fit_tasks(manifest: Path, out: Path) -> list[Task]:
    assets = read_manifest(manifest, "train")
    return [fit_task(a, p, out / f"{a}.tsgan", "zscore", {}, {}) for a, p in assets.items()]


def statuses(outcomes) -> dict[str, str]:
    return {o.asset: o.status for o in outcomes}


# --- which assets -----------------------------------------------------------------------------------


def test_manifest_paths_are_relative_to_it(tmp_path):
    manifest = write_assets(tmp_path / "site", 2)
    assert read_manifest(manifest, "test") == {
        "a0": tmp_path / "site" / "test" / "a0.csv",
        "a1": tmp_path / "site" / "test" / "a1.csv",
    }


def test_manifest_missing_column_or_rows_is_named(tmp_path):
    manifest = tmp_path / "assets.csv"
    manifest.write_text("asset, train\npump,pump.csv\n")
    with pytest.raises(InputError, match=r"assets\.csv: manifest expected columns asset,test; missing test"):
        read_manifest(manifest, "test")
    manifest.write_text("asset,train,test\n")
    with pytest.raises(InputError, match="lists no assets"):
        read_manifest(manifest, "train")


@pytest.mark.parametrize(
    "line, error",
    [
        ("b,train/nowhere.csv,x", r"line 3 \(asset 'b'\): train file .*nowhere\.csv not found"),
        ("b,,x", r"line 3 \(asset 'b'\): the train cell is empty"),
        ("a0,train/a0.csv,x", r"line 3: asset 'a0' appears twice"),
        ("../b,train/a0.csv,x", r"line 3: asset expected a name usable as a file name"),
    ],
)
def test_manifest_bad_row_names_its_line(tmp_path, line, error):
    manifest = tmp_path / "assets.csv"
    write_assets(tmp_path, 1)
    manifest.write_text(f"asset,train,test\na0,train/a0.csv,x\n{line}\n")
    with pytest.raises(InputError, match=error):
        read_manifest(manifest, "train")


def test_globs_name_assets_by_file_stem(tmp_path):
    write_assets(tmp_path, 3)
    assets = assets_from_paths([tmp_path / "train" / "*.csv"])
    assert assets == {f"a{i}": tmp_path / "train" / f"a{i}.csv" for i in range(3)}
    assert assets_from_paths([str(tmp_path / "**" / "test" / "a1.csv")]) == {
        "a1": tmp_path / "test" / "a1.csv"
    }
    with pytest.raises(ConfigError, match="matches no file"):
        assets_from_paths([tmp_path / "*.parquet"])
    with pytest.raises(ConfigError, match="no such file"):
        assets_from_paths([tmp_path / "train.csv"])
    with pytest.raises(ConfigError, match="would both be asset 'a0'"):
        assets_from_paths([tmp_path / "train" / "*.csv", tmp_path / "test" / "*.csv"])


# --- engines ----------------------------------------------------------------------------------------


def test_joblib_engine_runs_in_parallel_and_isolates_failures(tmp_path):
    manifest = write_assets(tmp_path, 4, broken="a2")
    outcomes = run_assets(fit_tasks(manifest, tmp_path / "models"), jobs=2, progress=False)
    assert statuses(outcomes) == {"a0": "ok", "a1": "ok", "a2": "failed", "a3": "ok"}
    failed = outcomes[2]
    assert "a2.csv" in failed.error and "'oops'" in failed.error and "\n" not in failed.error
    assert outcomes[0].summary["rows"] == 200 and (tmp_path / "models" / "a0.tsgan").is_file()
    assert not (tmp_path / "models" / "a2.tsgan").exists()


def test_a_dead_joblib_worker_is_one_clear_error(tmp_path):
    dies = Task("dies", functools.partial(os._exit, 1), tmp_path / "dies.out", ())
    works = Task("works", dict, tmp_path / "works.out", ())
    with pytest.raises(ConfigError, match="a joblib worker process died .* rerun to resume"):
        run_assets([dies, works], jobs=2, progress=False)


def test_rerun_skips_what_is_up_to_date(tmp_path):
    manifest = write_assets(tmp_path, 2)
    models, found = tmp_path / "models", tmp_path / "found"
    assert statuses(run_assets(fit_tasks(manifest, models), jobs=1, progress=False)) == {
        "a0": "ok",
        "a1": "ok",
    }
    tests = read_manifest(manifest, "test")
    detect = [detect_task(a, p, models / f"{a}.tsgan", found / f"{a}.json", {}) for a, p in tests.items()]
    assert statuses(run_assets(detect, jobs=1, progress=False)) == {"a0": "ok", "a1": "ok"}
    assert isinstance(json.loads((found / "a0.json").read_text()), list)

    again = run_assets(fit_tasks(manifest, models), jobs=1, progress=False)
    assert statuses(again) == {"a0": "skipped", "a1": "skipped"}
    newer = (models / "a1.tsgan").stat().st_mtime_ns + 1_000_000_000
    os.utime(tests["a1"], ns=(newer, newer))  # new test data for a1: only a1 is detected again
    assert statuses(run_assets(detect, jobs=1, progress=False)) == {"a0": "skipped", "a1": "ok"}
    assert statuses(run_assets(detect, jobs=1, progress=False, force=True)) == {"a0": "ok", "a1": "ok"}


def test_bad_engine_and_repeated_asset_are_refused(tmp_path):
    tasks = fit_tasks(write_assets(tmp_path, 1), tmp_path / "models")
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        run_assets(tasks, engine="spark")
    with pytest.raises(ConfigError, match="asset 'a0' appears twice"):
        run_assets(tasks * 2, progress=False)


# --- command line -----------------------------------------------------------------------------------


def test_fit_many_and_detect_many_report_each_asset(tmp_path, capsys):
    manifest = write_assets(tmp_path, 3, broken="a1")
    models, found = tmp_path / "models", tmp_path / "found"
    with pytest.raises(typer.Exit) as exit_:
        fit_many(None, manifest, models, detector="zscore", params={}, read_options={}, **ENGINE)
    assert exit_.value.exit_code == 1
    out, err = capsys.readouterr()
    assert "2 succeeded, 1 failed, 0 skipped; models in" in out
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: a1: ") and "'oops'" in errors[0]

    gap = pl.read_csv(tmp_path / "test" / "a2.csv").with_columns(b=pl.when(pl.int_range(200) != 9).then("b"))
    gap.write_csv(tmp_path / "test" / "a2.csv")
    with pytest.raises(typer.Exit):  # globs name the assets by file stem; a1 has no model
        detect_many([tmp_path / "test" / "*.csv"], None, models, found, read_options={}, **ENGINE)
    out, err = capsys.readouterr()
    assert "2 succeeded, 1 failed, 0 skipped" in out and "error: a1: " in err and "no such model" in err
    assert "warning: a2: " in err and "filled 1 missing value" in err
    assert sorted(p.name for p in found.iterdir()) == ["a0.json", "a2.json"]
    with pytest.raises(typer.Exit):
        detect_many(None, manifest, models, found, read_options={}, **ENGINE)
    assert "0 succeeded, 1 failed, 2 skipped" in capsys.readouterr().out


def test_many_mode_options_are_checked():
    assert not many_mode([Path("x.csv")], None, None, output=Path("m.tsgan"))
    assert many_mode([Path("*.csv")], None, Path("out"), output=None)
    with pytest.raises(ConfigError, match="--manifest needs --out-dir"):
        many_mode(None, Path("assets.csv"), None)
    with pytest.raises(ConfigError, match="not both or neither"):
        many_mode([Path("x.csv")], Path("assets.csv"), Path("out"))
    with pytest.raises(ConfigError, match="--output works with one DATA file only"):
        many_mode(None, Path("assets.csv"), Path("out"), output=Path("m.tsgan"))
    assert one_input([Path("x.csv")]) == Path("x.csv")
    for data in ([Path("*.csv")], [Path("x.csv"), Path("y.csv")], None):
        with pytest.raises(ConfigError, match="with --out-dir"):
            one_input(data)


# --- Ray --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray instance with 2 CPUs and no dashboard for this module's tests, stopped afterwards."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'tsgan[ray]')")
def test_ray_engine_isolates_a_broken_asset_and_skips_on_rerun(tmp_path, ray_session):
    manifest = write_assets(tmp_path, 6, broken="a4")
    tasks = fit_tasks(manifest, tmp_path / "models")
    outcomes = run_assets(tasks, engine="ray", jobs=2, progress=False)
    assert [o.status for o in outcomes] == ["ok"] * 4 + ["failed", "ok"]
    assert "a4.csv" in outcomes[4].error and "'oops'" in outcomes[4].error
    again = run_assets(tasks, engine="ray", jobs=2, progress=False)
    assert [o.status for o in again] == ["skipped"] * 4 + ["failed", "skipped"]


def test_model_actor_scores_like_the_model(tmp_path):
    manifest = write_assets(tmp_path, 1)
    run_assets(fit_tasks(manifest, tmp_path), jobs=1, progress=False)
    actor = ModelActor(tmp_path / "a0.tsgan")
    values = np.random.default_rng(5).normal(size=(50, 2))
    point, channel = actor.score(values)
    assert actor.channels() == ["a", "b"] and point.shape == (50,) and channel.shape == (50, 2)
    np.testing.assert_allclose(point, channel.max(axis=1))


def test_sources_are_dealt_out_pmu_by_pmu():
    shares = deal(pmu_addresses(["c37118://h:1,h:2,h:3", "csv-tail://x.csv"]), 2)
    assert shares == [["c37118://h:1,h:3"], ["c37118://h:2", "csv-tail://x.csv"]]
    assert deal(pmu_addresses(["c37118://h:1"]), 4) == [["c37118://h:1"]]
    with pytest.raises(ConfigError, match="standard input cannot go to Ray actors"):
        pmu_addresses(["stdin://csv"])
    with pytest.raises(ConfigError, match="unknown source"):
        pmu_addresses(["udp://h:1"])


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'tsgan[ray]')")
def test_stream_on_ray_actors_flags_each_pmus_events_once(tmp_path, ray_session):
    """3 simulated PMUs (one event each) over loopback, dealt out to 2 actors that keep the model loaded."""
    train = make_pmu(120.0, events=False, seed=100)
    train = train.select([c for c in train.channels if not c.endswith("_ang")])
    PCAReconstruction().fit(train).save(tmp_path / "pmu.tsgan")
    feeds = simulated_feeds(3, 10.0, 120, 7, 1, same_feeder=True)
    server = PmuServer([f for f, _ in feeds], port=0, rate=120)
    expected: list[dict] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=server.serve,
        args=(
            stop,
            lambda srv: expected.extend(
                r for f, s in feeds for r in truth(s, f.pmu.idcode, srv.frame_time_ns)
            ),
        ),
        daemon=True,
    )
    thread.start()
    found: list = []
    try:
        summary = run_on_ray(
            tmp_path / "pmu.tsgan",
            [
                ",".join(
                    f"c37118://127.0.0.1:{p}" if k == 0 else f"127.0.0.1:{p}"
                    for k, p in enumerate(server.ports)
                )
            ],
            found.append,
            options={"hop": 6, "init_seconds": 3.0},
            actors=2,
            duration=20.0,
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert summary["actors"] == 2 and summary["stations"] == 3
    assert summary["frames"] >= 3 * 10 * 120 * 0.95 and summary["events"] == len(found)
    events = [(e.station.name, e.start_ns, e.end_ns) for e in found]
    assert len(set(events)) == len(events)  # each written once
    for record in expected:
        assert any(
            e.station.name == record["station"]
            and e.interval.start_time <= record["end"]
            and e.interval.end_time >= record["start"]
            for e in found
        ), (record, [e.to_dict() for e in found])


@pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'tsgan[ray]')")
def test_a_stream_actor_error_comes_back_as_one_line(tmp_path, ray_session):
    with pytest.raises(TsganError, match=r"a stream actor failed: .*missing\.tsgan: no such model file"):
        run_on_ray(tmp_path / "missing.tsgan", ["c37118://127.0.0.1:1"], print, options={}, actors=1)
