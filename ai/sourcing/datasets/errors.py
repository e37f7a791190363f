"""Errors and warnings raised while reading conversation datasets."""

from __future__ import annotations


class DatasetError(ValueError):
    """A problem with a dataset source as configured (missing path, unreadable container, bad options)."""


class UnknownFormatError(DatasetError):
    """No reader recognised the input; the message names the file and every format that was tried."""


class NotRegularFileError(DatasetError):
    """An input path is a named pipe, socket or device: reading it could block forever or never end."""


class InvalidUtf8Warning(UserWarning):
    """Undecodable bytes were replaced with U+FFFD (``on_invalid_utf8: replace``).

    Raised through :mod:`warnings` once per file so the orchestrator can log it
    (``warnings.catch_warnings(record=True)`` or ``logging.captureWarnings``).
    """

    def __init__(self, file: str, rows: int, first_locator: str) -> None:
        self.file = file
        self.rows = rows
        self.first_locator = first_locator
        super().__init__(
            f"{file}: {rows} row(s) held invalid UTF-8 bytes, replaced with U+FFFD (first at {first_locator})"
        )
