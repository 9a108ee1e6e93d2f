"""One exception hierarchy for everything potstill refuses.

Every error a user can cause is a ``PotstillError``; the CLI catches exactly this class,
prints its message (no traceback) and exits with code 2. Anything else escaping is a bug.

Exit codes of every command (README, ``potstill --help``): 0 everything ran and passed its
gates; 1 a deployment gate failed; 2 bad input, refused before any work; 3 some runs failed
(records with status ``failed``, each holding its error; when both, 3).

::

    PotstillError
    ├── ConfigError        a YAML/CLI value is malformed, unknown or out of range
    ├── DataError          a dataset is missing, a column absent, a value non-numeric
    ├── ModelError         a model cannot be loaded, built or exported
    │   └── UnsafeModelError   a pickled model was refused (opt in with trust_pickle)
    ├── MethodError        a distillation method is unknown or inapplicable
    ├── BenchError         a runtime cannot be measured or failed its validation
    ├── PriceError         the price catalog is malformed or an instance is unknown
    ├── StoreError         the result store cannot be read or written
    ├── GateError          a deployment gate failed (``potstill check``)
    └── MissingDependencyError  an optional extra is not installed

Messages follow scikit-learn's form: what was wrong, where (file, field, row), what was
expected, the value received, and what to do, e.g.
``The 'temperature' parameter of KD must be > 0. Got -1 instead.``
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_GATES_FAILED",
    "EXIT_OK",
    "EXIT_RUNS_FAILED",
    "BenchError",
    "ConfigError",
    "DataError",
    "GateError",
    "MethodError",
    "MissingDependencyError",
    "ModelError",
    "PotstillError",
    "PriceError",
    "StoreError",
    "UnsafeModelError",
    "located_by_field",
    "missing_dependency",
]


#: Exit codes of the CLI, documented in the README and ``potstill --help``.
EXIT_OK = 0
EXIT_GATES_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RUNS_FAILED = 3


class PotstillError(Exception):
    """Base class of every error potstill raises on bad input or refused work."""

    exit_code: int = EXIT_BAD_INPUT

    def __new__(cls, *args: object, **kwargs: object) -> PotstillError:
        if _LOCATE_BY_FIELD.get():  # see located_by_field
            cls = _with_value_error(cls)
        return super().__new__(cls, *args)


#: True inside :func:`located_by_field`, i.e. while a config file is being validated.
_LOCATE_BY_FIELD: ContextVar[bool] = ContextVar("potstill_locate_by_field", default=False)


@contextmanager
def located_by_field() -> Iterator[None]:
    """Validate a config file inside this block to learn *where* a validator refused.

    A validator's own check (``check_scalar`` in a ``field_validator``) raises a
    ``PotstillError``, which pydantic lets escape without the field's location. Inside this
    block every ``PotstillError`` created is also a ``ValueError``, so pydantic records it
    in its ``ValidationError`` with the field path (``systems[2].evaluate.level``) for the
    loader to print. Outside it — a config built directly in Python — the same checks raise
    the plain class, as before. The flag is a context variable: threads and tasks that did
    not enter the block are unaffected.
    """
    token = _LOCATE_BY_FIELD.set(True)
    try:
        yield
    finally:
        _LOCATE_BY_FIELD.reset(token)


_AS_VALUE_ERROR: dict[type[PotstillError], type[PotstillError]] = {}


def _with_value_error(cls: type[PotstillError]) -> type[PotstillError]:
    """``cls`` that is also a ``ValueError`` (same name, message and exit code), made once."""
    if issubclass(cls, ValueError):
        return cls
    if cls not in _AS_VALUE_ERROR:
        _AS_VALUE_ERROR[cls] = type(cls.__name__, (cls, ValueError), {"__module__": cls.__module__})
    return _AS_VALUE_ERROR[cls]


class ConfigError(PotstillError):
    """A configuration value (YAML file, API argument or CLI flag) is invalid."""


class DataError(PotstillError):
    """A dataset, file, column or value cannot be used as given."""


class ModelError(PotstillError):
    """A model cannot be loaded, built, run or exported."""


class UnsafeModelError(ModelError):
    """Loading this model would execute arbitrary code; the user must opt in."""


class MethodError(PotstillError):
    """A distillation method is unknown, mis-parametrised or not applicable."""


class BenchError(PotstillError):
    """A model/runtime cannot be benchmarked, or failed its pre-timing validation."""


class PriceError(PotstillError):
    """The price catalog or an override file is malformed, or an entry is unknown."""


class StoreError(PotstillError):
    """The result store (records directory) cannot be read or written."""


class GateError(PotstillError):
    """One or more deployment gates failed."""

    exit_code = EXIT_GATES_FAILED


class MissingDependencyError(PotstillError):
    """An optional dependency is not installed."""


def missing_dependency(
    package: str, extra: str | None = None, purpose: str = "", command: str | None = None
) -> MissingDependencyError:
    """Build the error for a missing optional package, with the command that fixes it."""
    how = command or (f"pip install 'potstill[{extra}]'" if extra else f"pip install {package}")
    why = f" (needed for {purpose})" if purpose else ""
    return MissingDependencyError(
        f"The optional package '{package}' is not installed{why}. Install it with: {how}"
    )
