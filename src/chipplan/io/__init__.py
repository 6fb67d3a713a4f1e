"""The table contract: ``chipplan predict`` / ``chipplan validate`` over CSV files in the column schema.

``schema`` declares the columns (as data; ``docs/columns.md`` is generated from it), ``read`` reads and types a
file, ``training`` and ``inference`` predict their rows, ``write`` assembles the stable JSON output and the
validation summary.
"""

from chipplan.io.read import read_table
from chipplan.io.write import predict_file, predict_frame, validate_file, validate_frame, validate_table

__all__ = ["predict_file", "predict_frame", "read_table", "validate_file", "validate_frame", "validate_table"]
