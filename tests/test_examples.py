"""Every script in examples/ runs as a user would run it (python examples/NAME.py ...), on tiny data."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RUNS = {
    "detect_folder.py": ["--out", "report"],
    "compare_detectors.py": ["--detectors", "auto,zscore,random"],
    "sklearn_and_pyod.py": [],
    "save_and_load.py": ["plant.tsgan"],
    "many_assets.py": ["--jobs", "1"],
    "stream_pmu.py": ["--pmus", "2", "--seconds", "12", "--page", "live.html"],
}
EXPECT = {  # a line each script's output must hold, and a file it must leave
    "detect_folder.py": ("kept weight 1.00", "report/industrial_test.html"),
    "compare_detectors.py": ("random is the chance level", None),
    "sklearn_and_pyod.py": ("cloned with another window: 32", None),
    "save_and_load.py": ("a damaged file is refused", "plant.tsgan"),
    "many_assets.py": ("detect pump5: ok", "detections/pump0.json"),
    "stream_pmu.py": ("frames from 2 PMUs", "live.html"),
}


def test_every_example_is_run_here():
    assert set(RUNS) == {p.name for p in EXAMPLES.glob("*.py")}


@pytest.mark.parametrize("name", list(RUNS))
def test_example_runs(name, tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *RUNS[name]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line, path = EXPECT[name]
    assert line in done.stdout, done.stdout[-2000:]
    assert path is None or (tmp_path / path).is_file()
