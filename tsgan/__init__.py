"""tsgan: anomaly detection in multivariate time series with GANs, measured honestly."""

from tsgan.errors import ArtifactError, ConfigError, InputError, TsganError, TsganWarning
from tsgan.series import Series, as_series

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "ConfigError",
    "InputError",
    "Series",
    "TsganError",
    "TsganWarning",
    "as_series",
    "load",
]


def load(path):
    """Load a fitted detector saved with `detector.save(path)`."""
    from tsgan.artifacts import load_detector

    return load_detector(path)
