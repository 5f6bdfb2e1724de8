"""Saving and loading: identical scores after a round trip; damaged or foreign files are refused."""

import json

import numpy as np
import pytest
from conftest import TINY_MADGAN

import tsgan
from tsgan.artifacts import read_header
from tsgan.detectors import MADGAN
from tsgan.errors import ArtifactError


@pytest.fixture(scope="module")
def saved(tmp_path_factory, request):
    rng = np.random.default_rng(2)
    train = np.cumsum(rng.normal(size=(500, 2)), axis=0) * 0.1
    det = MADGAN(**TINY_MADGAN).fit(train)
    path = tmp_path_factory.mktemp("model") / "m.tsgan"
    det.save(path)
    return det, path, train


def test_round_trip_scores_identically(saved):
    det, path, train = saved
    loaded = tsgan.load(path)
    assert loaded.config == det.config and loaded.channels_ == det.channels_
    assert np.array_equal(loaded.score(train[:120]).channel, det.score(train[:120]).channel)
    header = read_header(path)
    assert header["detector"] == "madgan" and header["format_version"] == 1


def test_a_changed_weight_byte_is_detected(saved, tmp_path):
    _, path, _ = saved
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # inside the last tensor's bytes
    tampered = tmp_path / "tampered.tsgan"
    tampered.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        tsgan.load(tampered)


def test_weights_that_do_not_fit_the_config(saved, tmp_path):
    # Rewrite the header so it claims a bigger network than the weights hold, with a valid checksum.
    _, path, _ = saved
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8 : 8 + size])
    header = json.loads(meta["__metadata__"]["tsgan"])
    header["config"]["hidden"] = 99
    meta["__metadata__"]["tsgan"] = json.dumps(header)
    new = json.dumps(meta).encode()
    new += b" " * (-len(new) % 8)
    other = tmp_path / "other.tsgan"
    other.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + size :])
    with pytest.raises(ArtifactError, match="do not fit the saved configuration"):
        tsgan.load(other)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a tsgan model file"),
        (b"import os; os.system('echo pwned')", "not a tsgan model file"),
        (b"\x80\x04\x95" + b"\x00" * 40, "not a tsgan model file"),  # the start of a pickle
    ],
)
def test_foreign_files_are_refused_without_executing_anything(tmp_path, content, message):
    path = tmp_path / "x.tsgan"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=message):
        tsgan.load(path)


def test_missing_file_and_other_version(saved, tmp_path):
    with pytest.raises(ArtifactError, match="no such model file"):
        tsgan.load(tmp_path / "nope.tsgan")
    _, path, _ = saved
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    patched = (
        raw[: 8 + size].replace(b'\\"format_version\\": 1', b'\\"format_version\\": 7') + raw[8 + size :]
    )
    other = tmp_path / "v7.tsgan"
    other.write_bytes(patched)
    with pytest.raises(ArtifactError, match="format version 7"):
        tsgan.load(other)


def test_save_is_atomic_and_leaves_no_temporary_file(saved, tmp_path):
    det, _, _ = saved
    target = tmp_path / "sub" / "model.tsgan"
    det.save(target)
    assert [p.name for p in target.parent.iterdir()] == ["model.tsgan"]
