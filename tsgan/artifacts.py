"""Saving and loading fitted detectors: one safetensors file, no pickle.

The file holds every learned array as a tensor (network weights under the detector's own names, shared
state under `tsgan.*`) and, in the safetensors header's metadata, a JSON document with the format
version, the detector's name, its configuration and channel names, and a SHA-256 digest of the tensors.
Loading parses only JSON and raw tensor bytes, so nothing in the file can execute, and checks the
format version, the detector name, the digest and that the weights fit the configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tsgan.errors import ArtifactError, TsganError
from tsgan.io import write_atomic
from tsgan.preprocess import Scaler

FORMAT = "tsgan-model"
FORMAT_VERSION = 1


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    sha = hashlib.sha256()
    for key in sorted(tensors):
        sha.update(key.encode())
        sha.update(tensors[key].contiguous().cpu().numpy().tobytes())
    return sha.hexdigest()


def save_detector(detector, path) -> None:
    """Write a fitted detector to `path` atomically (temporary file in the same folder, then rename)."""
    detector._check_fitted()
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in detector._state().items()}
    shared = {f"scaler.{k}": v for k, v in detector.scaler_.state().items()}
    shared |= {
        "score_center": detector.score_center_,
        "score_scale": detector.score_scale_,
        "thresholds": detector.thresholds_,
        "score_history": detector.score_history_,
    }
    if hasattr(detector, "contamination_threshold_"):  # PyOD's threshold_, set by fit with contamination
        shared["contamination_threshold"] = np.array([detector.contamination_threshold_], dtype=np.float32)
    tensors |= {f"tsgan.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in shared.items()}
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "detector": detector.name,
        "config": dataclasses.asdict(detector.config),
        "channels": detector.channels_,
        "fitted": detector._info(),
        "sha256": _digest(tensors),
    }
    write_atomic(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata={"tsgan": json.dumps(header)}))


def read_header(path) -> dict:
    """The JSON header of a tsgan model file, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such model file; fit one with `tsgan fit DATA -o {path}`")
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 100_000_000:
                raise ValueError("bad header size")
            metadata = json.loads(f.read(size)).get("__metadata__") or {}
        header = json.loads(metadata["tsgan"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{path}: not a tsgan model file ({type(exc).__name__}); fit a model with `tsgan fit`"
        ) from None
    if header.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a tsgan model file (format {header.get('format')!r})")
    if header.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: model format version {header.get('format_version')} but this tsgan reads version "
            f"{FORMAT_VERSION}; refit the model with this version"
        )
    return header


def load_detector(path):
    """Rebuild a fitted detector from `path`; any inconsistency is an ArtifactError."""
    from tsgan.detectors import get_detector_class

    header = read_header(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: the weights cannot be read ({exc}); the file is damaged") from None
    if _digest(tensors) != header.get("sha256"):
        raise ArtifactError(
            f"{path}: the weights do not match their checksum; the file was modified or damaged"
        )
    try:
        detector = get_detector_class(header["detector"])(**header["config"])
        detector.channels_ = list(header["channels"])
        shared = {k[len("tsgan.") :]: v.numpy() for k, v in tensors.items() if k.startswith("tsgan.")}
        scaler_state = {k[len("scaler.") :]: v for k, v in shared.items() if k.startswith("scaler.")}
        detector.scaler_ = Scaler.from_state(detector.config.scaler, detector.config.clip, scaler_state)
        detector.score_center_ = shared["score_center"]
        detector.score_scale_ = shared["score_scale"]
        detector.thresholds_ = shared["thresholds"]
        # Files written before drift thresholds existed have no history; their fixed thresholds need none.
        detector.score_history_ = shared.get(
            "score_history", np.empty((0, detector.thresholds_.size), np.float32)
        )
        if "contamination_threshold" in shared:
            detector.contamination_threshold_ = float(shared["contamination_threshold"].reshape(-1)[0])
        detector._load_info(header.get("fitted") or {})
        detector._load_state({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    except TsganError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: the weights do not fit the saved configuration ({exc})") from None
    n_names, n_scaled = len(detector.channels_), len(detector.scaler_.active_)
    if n_names != n_scaled:
        raise ArtifactError(f"{path}: {n_names} channel names for {n_scaled} scaled channels; file damaged")
    return detector
