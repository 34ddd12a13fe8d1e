"""Files: model files (``models``), data tables (``tables``), atomic writes (``atomic``)."""

from .atomic import atomic_write
from .models import FORMAT_NAME, FORMAT_VERSION, ModelFileError, read_model, write_model
from .tables import read_frame, read_table, write_table, write_table_chunks

__all__ = [
    "write_model", "read_model", "read_table", "read_frame", "write_table", "write_table_chunks",
    "ModelFileError", "atomic_write", "FORMAT_NAME", "FORMAT_VERSION",
]
