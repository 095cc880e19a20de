"""Errors of the file adapter."""

from __future__ import annotations

from pumpcore import ProcessingError


class FileReadError(ProcessingError):
    """A file could not be read to the end: it is not there, not readable, not valid in its
    compression or encoding, or its content could not be parsed.

    The file source renames such a file to ``<name>-failed`` and reports this error through the
    pipeline's error policy; under the soft policy the other files go on.

    Attributes:
        filename: the file's original name (before it was locked).
    """

    def __init__(self, filename: str, cause: BaseException) -> None:
        super().__init__(f"cannot read {filename!r}: {cause!r}")
        self.filename = filename
