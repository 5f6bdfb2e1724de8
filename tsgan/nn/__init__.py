"""Network building blocks shared by the detectors."""

from tsgan.nn.recurrent import SequenceDiscriminator, SequenceEncoder, SequenceGenerator

__all__ = ["SequenceDiscriminator", "SequenceEncoder", "SequenceGenerator"]
