"""Number formatting and Markdown escaping, pinned by hand."""

from __future__ import annotations

import math

import pytest

from potstill.report.format import (
    code_block,
    count,
    esc,
    interval,
    md_table,
    metric,
    ms,
    pct,
    pp,
    si,
    usd,
)
from potstill.types import Estimate


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0123456, "$0.0123"),
        (1.5, "$1.50"),
        (0.65, "$0.650"),
        (1234.0, "$1,230"),
        (999.6, "$1,000"),
        (0.0, "$0"),
        (-1.85, "-$1.85"),
        (None, "—"),
        (math.nan, "—"),
    ],
)
def test_usd_three_significant_digits(value, expected):
    assert usd(value) == expected


def test_percentages_and_points():
    assert pct(0.72) == "72.0%"
    assert pct(0.98249) == "98.2%"
    assert pct(None) == "—"
    assert pct(True) == "—"  # a bool is not a number here
    assert pp(0.012) == "+1.2 pp" and pp(-0.01) == "-1.0 pp"
    assert usd(0.1785, 4) == "$0.1785"


def test_other_numbers():
    assert ms(4.0) == "4.00 ms" and ms(0.01234) == "0.0123 ms"
    assert metric(0.8118) == "0.8118" and metric(5.208333) == "5.208"
    assert count(30000) == "30,000" and count(None) == "—"
    assert si(250_000) == "250k" and si(1_234_567) == "1.23M" and si(12) == "12.0"


def test_interval():
    assert interval(Estimate(0.99, 0.98, 1.0)) == "99.0% [98.0%, 100.0%]"
    assert interval(Estimate(0.5)) == "50.0%"
    assert interval(Estimate(5.6, 5.5, 5.7), metric) == "5.600 [5.500, 5.700]"
    assert interval(None) == "—"


def test_escape_keeps_tables_intact():
    assert esc("a|b") == "a\\|b"
    assert esc("<script>") == "\\<script\\>"
    assert esc("line\nbreak  here") == "line break here"
    assert esc("snake_case_name") == "snake_case_name"  # intraword: no emphasis, left as is
    assert esc("_x_") == "\\_x\\_"
    table = md_table(["A", "B"], [["1", esc("x|y")]], right=1)
    assert table.splitlines() == ["| A | B |", "|:--|--:|", "| 1 | x\\|y |"]


def test_code_block_fence_outgrows_backticks():
    block = code_block("a ```` b", "yaml")
    assert block.startswith("`````yaml\n") and block.endswith("\n`````")
