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
