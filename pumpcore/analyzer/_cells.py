"""Cell storage for matrices: rows by columns of numbers, on numpy or on plain Python lists.

Both backends expose ``Array`` indexed ``Array[row][column]`` (a numpy 2-D array or a list of
row lists), so analyzer code reads and writes cells the same way on either. Which one is the
default is a measured decision (``bench/windows.py``, docs/architecture.md): per-event writes of
single cells are what a window analyzer does most, and a Python list takes those several times
faster than numpy's scalar indexing; numpy wins on whole-matrix analysis, which callers get from
``to_numpy``.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

Backend = Literal["python", "numpy"]

HAS_NUMPY = importlib.util.find_spec("numpy") is not None

#: The backend a matrix gets when none is asked for: measured faster for per-event cell writes.
DEFAULT_BACKEND: Backend = "python"


def _zero(dtype: str) -> float | int:
    """The zero of a BSPump dtype string, for the Python backend (``'i8'`` → 0, else 0.0)."""
    return 0 if dtype.lstrip("<>=|")[:1] in ("i", "u", "b") else 0.0


class PythonCells:
    """Rows as Python lists: ``Array[row][column]``."""

    def __init__(self, columns: int, dtype: str = "float_") -> None:
        self.columns = columns
        self.zero = _zero(dtype)
        self.Array: list[list[Any]] = []

    def cast(self, value: Any) -> Any:
        """``value`` as the cells' type (numpy converts on assignment; lists do not)."""
        return type(self.zero)(value)

    def add_row(self) -> int:
        """Append a row of zeros; its index."""
        self.Array.append([self.zero] * self.columns)
        return len(self.Array) - 1

    def clear_column(self, column: int) -> None:
        """Set a column to zero in every row."""
        zero = self.zero
        for row in self.Array:
            row[column] = zero

    def clear_row(self, row: int) -> None:
        """Set a row to zero."""
        self.Array[row] = [self.zero] * self.columns

    def column(self, column: int) -> list[Any]:
        """A column's values, row by row."""
        return [row[column] for row in self.Array]

    def rows(self) -> list[list[Any]]:
        """Every row as a list (a copy)."""
        return [list(row) for row in self.Array]

    def load(self, rows: list[list[Any]]) -> None:
        """Replace every row (a snapshot being restored)."""
        self.Array = [list(row) for row in rows]


class NumpyCells:
    """Rows of a numpy array grown by doubling: ``Array[row][column]`` or ``Array[row, column]``.

    ``Array`` is a view of the first ``n`` rows of the buffer; it is replaced when the buffer
    grows, so read it from the matrix each time rather than keeping it.
    """

    def __init__(self, columns: int, dtype: str = "float_") -> None:
        import numpy as np

        self._np = np
        self.columns = columns
        self.dtype = np.dtype("float64" if dtype == "float_" else dtype)
        self._buffer = np.zeros((16, columns), dtype=self.dtype)
        self._n = 0
        self.Array: Any = self._buffer[:0]

    def cast(self, value: Any) -> Any:
        """``value`` unchanged: numpy converts it on assignment."""
        return value

    def add_row(self) -> int:
        """Append a row of zeros (the buffer doubles when full); its index."""
        if self._n == self._buffer.shape[0]:
            bigger = self._np.zeros((2 * self._n, self.columns), dtype=self.dtype)
            bigger[: self._n] = self._buffer
            self._buffer = bigger
        self._n += 1
        self.Array = self._buffer[: self._n]
        return self._n - 1

    def clear_column(self, column: int) -> None:
        """Set a column to zero in every row."""
        self.Array[:, column] = 0

    def clear_row(self, row: int) -> None:
        """Set a row to zero."""
        self.Array[row] = 0

    def column(self, column: int) -> list[Any]:
        """A column's values, row by row, as Python numbers."""
        values: list[Any] = self.Array[:, column].tolist()
        return values

    def rows(self) -> list[list[Any]]:
        """Every row as a list of Python numbers."""
        rows: list[list[Any]] = self.Array.tolist()
        return rows

    def load(self, rows: list[list[Any]]) -> None:
        """Replace every row (a snapshot being restored)."""
        n = len(rows)
        self._buffer = self._np.zeros((max(16, n), self.columns), dtype=self.dtype)
        if n:
            self._buffer[:n] = self._np.asarray(rows, dtype=self.dtype)
        self._n = n
        self.Array = self._buffer[:n]


Cells = PythonCells | NumpyCells


def make_cells(columns: int, dtype: str, backend: Backend | None) -> Cells:
    """Cells on ``backend`` (None: ``DEFAULT_BACKEND``).

    Raises:
        ValueError: ``backend`` is ``"numpy"`` and numpy is not installed, or is unknown.
    """
    chosen = DEFAULT_BACKEND if backend is None else backend
    if chosen == "numpy":
        if not HAS_NUMPY:
            raise ValueError("matrix backend 'numpy' needs numpy: pip install 'pumpcore[numpy]'")
        return NumpyCells(columns, dtype)
    if chosen == "python":
        return PythonCells(columns, dtype)
    raise ValueError(f"matrix backend must be 'python' or 'numpy', got {backend!r}")
