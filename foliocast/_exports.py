"""Public names of a package that load their module on first use (PEP 562).

The packages' ``__init__`` modules re-export their public API this way, so that
importing ``foliocast.data.errors`` or ``foliocast.portfolio.cli`` loads neither
pandas nor JAX: a name's module is imported when the name is first read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a package's ``__getattr__`` and ``__dir__`` for lazily loaded names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to str
        Public name -> the module that defines it.
    namespace : dict
        The package's ``globals()``: a loaded name is stored there, so the module
        is asked only once.

    Returns
    -------
    tuple of callables
        ``__getattr__`` (a public name, else a submodule, else AttributeError) and
        ``__dir__``.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            namespace[name] = value
            return value
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{package}.{name}":
                raise
            raise AttributeError(
                f"module {package!r} has no attribute {name!r}"
            ) from None

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
