"""FileJSONLookupProvider: a lookup's table from a JSON file, reloaded only when it changes."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any


class FileJSONLookupProvider:
    """Reads a JSON object from a file for a ``pumpcore.lookup`` lookup.

    ``load`` answers None (unchanged) while the file's modification time and size are those of
    the previous successful load, so a refresh trigger can poll it cheaply. Replace the file
    atomically (write a temporary file, then rename it over) so a load never sees half a file;
    a load that does fails and is tried again on the next refresh.

    Args:
        path: the JSON file; its top level must be an object.

    Example:
        >>> import pathlib, tempfile
        >>> from pumpcore.lookup import MappingLookup
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = pathlib.Path(tmp.name) / "countries.json"
        >>> _ = path.write_text('{"cz": "Czechia"}')
        >>> lookup = MappingLookup("Countries", provider=FileJSONLookupProvider(path))
        >>> lookup.load(), lookup["cz"], lookup.load()
        (True, 'Czechia', False)
        >>> tmp.cleanup()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._signature: tuple[int, int] | None = None

    def load(self) -> Mapping[Any, Any] | None:
        """The file's object, or None when the file is unchanged since the last load.

        Raises:
            OSError: the file cannot be read.
            ValueError: the file is not JSON (``json.JSONDecodeError``), or not a JSON object.
        """
        with open(self.path, "rb") as f:
            st = os.fstat(f.fileno())  # of the file we read, even if it is replaced meanwhile
            signature = (st.st_mtime_ns, st.st_size)
            if signature == self._signature:
                return None
            data = json.loads(f.read())
        if not isinstance(data, dict):
            raise ValueError(
                f"{type(self).__name__}: {self.path!r} holds a JSON {type(data).__name__}, "
                "not an object"
            )
        self._signature = signature
        return data
