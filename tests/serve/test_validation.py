"""The feature schema refuses bad rows with the row, the field and the value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from potstill.serve.validation import RequestError, rows_to_array

NAMES = ["age", "income"]


def _details(payload: Any, max_rows: int = 10) -> list[dict[str, Any]]:
    with pytest.raises(RequestError) as info:
        rows_to_array(payload, NAMES, max_rows)
    return info.value.details


def test_good_rows_become_float32_in_schema_order() -> None:
    X = rows_to_array({"rows": [{"income": 2.5, "age": 40}, {"age": 1, "income": 0}]}, NAMES, 10)
    assert X.dtype == np.float32
    assert X.tolist() == [[40.0, 2.5], [1.0, 0.0]]


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"age": "40", "income": 1.0}, "age", "must be a number. Got '40' (str)"),
        ({"age": True, "income": 1.0}, "age", "Got True (bool)"),
        ({"age": None, "income": 1.0}, "age", "Got None (NoneType)"),
        ({"income": 1.0}, "age", "lacks feature 'age'"),
        ({"age": 1, "income": 1.0, "zip": 7}, "zip", "unknown feature 'zip'"),
        ({"age": 1, "income": 1e300}, "income", "out of the float32 range"),
    ],
)
def test_a_bad_row_is_named_with_its_field_and_value(row: dict, field: str, words: str) -> None:
    details = _details({"rows": [{"age": 3, "income": 2.0}, row]})
    assert details[0]["loc"] == ["body", "rows", 1, field]
    assert words in details[0]["msg"]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ([1, 2], "JSON object with a 'rows' list"),
        ({"rows": []}, "non-empty list"),
        ({"rows": [{"age": 1, "income": 1}], "extra": 1}, "Unknown key 'extra'"),
        ({"rows": [[1, 2]]}, "Row 0 must be an object"),
        ({"rows": [{"age": 1, "income": 1}] * 11}, "At most 10 rows"),
    ],
)
def test_a_malformed_body_is_refused(payload: Any, words: str) -> None:
    assert words in _details(payload)[0]["msg"]


def test_errors_are_collected_up_to_a_limit() -> None:
    details = _details({"rows": [{"age": "x", "income": "y"}] * 10}, max_rows=10)
    assert len(details) == 20
