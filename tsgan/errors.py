"""Errors and warnings that tsgan raises on purpose.

Every message names the file, column or value at fault and says what to do, so the command line can
print it as one line and exit non-zero without a traceback.
"""


class TsganError(Exception):
    """Base class of every error tsgan raises on purpose."""


class InputError(TsganError):
    """The input data cannot be used as it is (missing file, bad cell, wrong channels...)."""


class ConfigError(TsganError):
    """A parameter or option has a value tsgan cannot work with."""


class ArtifactError(TsganError):
    """A saved model file is missing, corrupt, tampered with, or of another format version."""


class DatasetError(TsganError):
    """A known public dataset is not where tsgan looked for it."""


class TsganWarning(UserWarning):
    """Something was done to the data that the user should know about (a channel excluded, gaps filled)."""
