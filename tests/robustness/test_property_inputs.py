"""Property tests: random CSV files and YAML documents never escape as a bare exception.

Whatever bytes a user hands ``load_table`` or the fleet loader, the outcome is either a
valid result or a :class:`~potstill.errors.PotstillError` (whose message the CLI prints
without a traceback). Any other exception is a bug that would reach the user as a traceback.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from potstill.config import load_fleet
from potstill.data import load_table
from potstill.errors import PotstillError
from potstill.types import Task

CELLS = st.one_of(
    st.just(""),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e309", "yes", "no"]),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)
HEADERS = st.lists(st.text(alphabet="abcxyz y_.1 ", min_size=0, max_size=4), min_size=1, max_size=5)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[str, str]:
    """(CSV text, target column name) with odd headers, separators and cells."""
    header = draw(HEADERS)
    rows = draw(st.lists(st.lists(CELLS, min_size=len(header), max_size=len(header)), max_size=40))
    sep = draw(st.sampled_from([",", ",", ";", "\t"]))

    def quote(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if any(x in c for x in ',;\t"\n\r') else c

    lines = [sep.join(quote(h) for h in header)] + [sep.join(quote(c) for c in r) for r in rows]
    target = draw(st.sampled_from([*header, "missing_target"]))
    return "\n".join(lines) + "\n", target


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files(), st.integers(0, 2**40))
def test_load_table_refuses_or_returns_a_task(case: tuple[str, str], seed: int) -> None:
    text, target = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        path.write_text(text, encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a numpy/pandas warning leaking out is a bug too
            try:
                task = load_table(path, target, seed=seed)
            except PotstillError as exc:
                assert str(exc), "a refusal must say why"
                return
    assert isinstance(task, Task)
    assert len(task.train) > 0 and len(task.test) > 0


YAML_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(), st.text(max_size=6)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["name", "seed", "systems", "grid", "train", "bench", "evaluate", "gates", "prices", "x"]
)


@st.composite
def fleet_documents(draw: st.DrawFn) -> str:
    """A YAML document: random structure, or a fleet-shaped mapping with random values."""
    if draw(st.booleans()):
        return yaml.safe_dump(draw(YAML_VALUES))
    doc = draw(st.dictionaries(KEYS, YAML_VALUES, max_size=4))
    if draw(st.booleans()):
        system = {"name": draw(st.text(max_size=8)), "dataset": {"builtin": "breast_cancer"}}
        system.update(draw(st.dictionaries(st.sampled_from(["teacher", "student", "grid"]),
                                           YAML_VALUES, max_size=2)))  # fmt: skip
        doc["systems"] = [system]
    return yaml.safe_dump(doc)


@settings(max_examples=200, deadline=None)
@given(st.one_of(fleet_documents(), st.text(max_size=80)))
def test_fleet_loader_refuses_or_returns_a_config(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_fleet(path)
        except PotstillError as exc:
            assert str(exc)
