"""One BLAS thread for a block of small-matrix work, restored afterwards.

Threaded BLAS spin-waits for its threads; when the cores are busy (a backtest, a
sweep, other jobs) a call on a small matrix stalls: the prior's estimates ran 10x
slower, a 500-asset optimizer call 5x, on a loaded 2-core machine. On small
matrices one thread loses little even on an idle machine.

A BLAS library has one process-wide thread setting, so blocks are counted: the
first block to enter (in any thread) saves each library's setting and sets it to 1,
the last one to leave restores it. Other threads that use BLAS meanwhile run on
one thread too. The libraries are found on first use (numpy's and scipy's are
loaded by then); importing this module does no work.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["ONE_BLAS_THREAD"]


class _OneBlasThread:
    """Reentrant, thread-safe ``with`` block that holds BLAS at one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: list[tuple[Any, int]] = []  # (library, its thread setting)
        self._libraries: list[Any] | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._saved = []
                for library in self._blas_libraries():
                    threads = library.get_num_threads()
                    if threads is not None and threads != 1:
                        library.set_num_threads(1)
                        self._saved.append((library, threads))
            self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                for library, threads in self._saved:
                    library.set_num_threads(threads)
                self._saved = []

    def _blas_libraries(self) -> list[Any]:
        if self._libraries is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # then BLAS keeps its own setting
                self._libraries = []
            else:
                # Finding the loaded libraries takes milliseconds: once is enough.
                found = ThreadpoolController().select(user_api="blas")
                self._libraries = list(found.lib_controllers)
        return self._libraries


ONE_BLAS_THREAD = _OneBlasThread()
"""``with ONE_BLAS_THREAD:`` runs its block with every BLAS library on one thread."""
