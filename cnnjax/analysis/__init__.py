"""Explaining CNNs layer by layer: output sizes, parameter counts, FLOPs, receptive fields.

from cnnjax import analysis
analysis.conv_output_size(227, 11, 0, 4)            # 55
analysis.receptive_field([(3, 1), (2, 2), (3, 1)])  # size 8, jump 2
print(analysis.format_summary(analysis.summary("vgg16")))
"""

from cnnjax.analysis.erf import (
    effective_receptive_field,
    erf_support,
)
from cnnjax.analysis.receptive_fields import ReceptiveField, receptive_field
from cnnjax.analysis.shapes import conv_output_size, conv_params, pool_output_size
from cnnjax.analysis.summaries import Row, Summary, summary
from cnnjax.analysis.table import format_summary

__all__ = [
    "ReceptiveField",
    "Row",
    "Summary",
    "conv_output_size",
    "conv_params",
    "effective_receptive_field",
    "erf_support",
    "format_summary",
    "pool_output_size",
    "receptive_field",
    "summary",
]
