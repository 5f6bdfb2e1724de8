"""Detectors by name. Each module holds one detector on the shared contract of `base.Detector`."""

from __future__ import annotations

import dataclasses

from tsgan.detectors.alad import ALAD
from tsgan.detectors.anogan import AnoGAN
from tsgan.detectors.auto import Auto
from tsgan.detectors.base import Detection, Detector, DetectorConfig, Scores
from tsgan.detectors.baselines import (
    PCAReconstruction,
    RandomBaseline,
    RobustZScore,
    SeasonalResidual,
    WindowIsolationForest,
    WindowKNN,
)
from tsgan.detectors.beatgan import BeatGAN
from tsgan.detectors.egbad import EGBAD
from tsgan.detectors.esad import ESAD
from tsgan.detectors.ganomaly import GANomaly
from tsgan.detectors.madgan import MADGAN
from tsgan.detectors.rsmgan import RSMGAN
from tsgan.detectors.tadgan import TadGAN
from tsgan.detectors.usad import USAD
from tsgan.errors import ConfigError

DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (
        Auto,
        MADGAN,
        RSMGAN,
        RandomBaseline,
        RobustZScore,
        PCAReconstruction,
        WindowIsolationForest,
        WindowKNN,
        SeasonalResidual,
        USAD,
        BeatGAN,
        GANomaly,
        AnoGAN,
        EGBAD,
        ALAD,
        TadGAN,
        ESAD,
    )
}


def get_detector_class(name: str) -> type[Detector]:
    if name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}: expected one of {', '.join(DETECTORS)}")
    return DETECTORS[name]


def params_for(name: str, options: dict) -> dict:
    """The options (e.g. --epochs) that detector `name` has, leaving out those it has not and unset ones,
    so one command line can drive detectors with different parameters (as `tsgan bench` does)."""
    fields = {f.name for f in dataclasses.fields(get_detector_class(name).config_class)}
    return {k: v for k, v in options.items() if v is not None and k in fields}


def make_detector(name: str, **params) -> Detector:
    """A new, unfitted detector called `name` with `params` (unknown ones are a ConfigError)."""
    return get_detector_class(name)(**params)


__all__ = [
    "DETECTORS",
    "Auto",
    "USAD",
    "BeatGAN",
    "GANomaly",
    "AnoGAN",
    "EGBAD",
    "ALAD",
    "TadGAN",
    "ESAD",
    "MADGAN",
    "RSMGAN",
    "PCAReconstruction",
    "RandomBaseline",
    "RobustZScore",
    "SeasonalResidual",
    "WindowIsolationForest",
    "WindowKNN",
    "Detection",
    "Detector",
    "DetectorConfig",
    "Scores",
    "get_detector_class",
    "params_for",
    "make_detector",
]
