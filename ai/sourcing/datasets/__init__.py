"""Conversation dataset ingestion: every common file shape, streamed, with provenance.

Public entry: :func:`read_source`. A source's ``format`` is ``auto`` (detect from the container and the
first row), a record format (:data:`FORMATS`) or a container name (``jsonl``, ``json``, ``csv``, ``tsv``,
``parquet``, ``hf``). Malformed rows come out as ``Rejection(stage="ingest", ...)``; problems with the
source as configured (missing file, unknown format of a named file, bad options) raise
:class:`DatasetError`. Undecodable bytes read with ``on_invalid_utf8: replace`` are reported through an
:class:`InvalidUtf8Warning` (Python ``warnings``) naming the file.
"""

from ai.sourcing.datasets.errors import DatasetError, InvalidUtf8Warning, UnknownFormatError
from ai.sourcing.datasets.reader import FORMATS, read_file, read_source

__all__ = [
    "FORMATS",
    "DatasetError",
    "InvalidUtf8Warning",
    "UnknownFormatError",
    "read_file",
    "read_source",
]
