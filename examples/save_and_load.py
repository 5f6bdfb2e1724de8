"""Save a fitted model and load it back safely: one safetensors file, no pickle, checked on load.

    python examples/save_and_load.py [model.tsgan]

A tsgan model file holds tensors and a JSON header only, so loading it cannot run code. Loading checks
the format version, the detector's name, a SHA-256 digest of the weights and that they fit the
configuration; any damage is an ArtifactError naming the file, never a half-loaded model.
"""

import argparse
from pathlib import Path

import numpy as np

import tsgan
from tsgan.datasets import make_industrial
from tsgan.detectors import Auto


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=Path("plant.tsgan"), help="the model file")
    args = parser.parse_args(argv)

    normal = make_industrial(2000, 6, anomalies=False, seed=1)
    test = make_industrial(800, 6, seed=2)
    detector = Auto().fit(normal)
    detector.save(args.path)  # written to a temporary file and renamed: never half-written

    loaded = tsgan.load(args.path)
    same = np.array_equal(loaded.score(test).point, detector.score(test).point)
    print(f"saved {args.path} ({args.path.stat().st_size // 1024} KiB); reloaded scores identical: {same}")
    print(loaded.describe())  # what auto chose is in the file too

    damaged = args.path.with_name("damaged.tsgan")
    data = bytearray(args.path.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte in the weights
    damaged.write_bytes(bytes(data))
    try:
        tsgan.load(damaged)
    except tsgan.ArtifactError as error:
        print(f"a damaged file is refused: {error}")


if __name__ == "__main__":
    main()
