"""Issue 14's goal, judged from a ``select_search.py`` run: for each searched system, is
the chosen student at least 30 % cheaper than the built-in default student at equal or
better retention, within the intervals?

- **Cheaper**: the upper end of the choice/default $-per-1M ratio's interval (re-measured
  in alternating rounds by ``potstill select``) is at most 0.7.
- **Equal or better retention**: the choice's test retention (its ``auto`` record) against
  the built-in default student's, trained here as the built-in fleet trains it (its own
  size, ``kd``, the fleet's epochs) and evaluated on the same test split. The difference
  choice − default gets a 95 % interval combined from the two records' bootstrap intervals
  (MOVER, Zou & Donner 2008); retention counts as equal or better when that interval
  reaches zero or above.

The default students are trained with the quick benchmark harness (their cost is not used
here: ``select`` measured it against the choice). Writes the verdicts into the results
file, beside the search figures.

    python benchmarks/select_goal.py --results benchmarks/results/select_enterprise.json \\
        --out DIR   # DIR: the --out folder the search ran in
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from potstill._io import atomic_write_json
from potstill.config import FleetConfig
from potstill.costs import BenchConfig, difference_interval
from potstill.runner import builtin_fleet, run_study

DEFAULT_LABEL = "kd"
CHEAPER = 0.7


def _default_fleet() -> FleetConfig:
    data = builtin_fleet().model_dump()
    data["grid"] = [g for g in data["grid"] if g["label"] == DEFAULT_LABEL]
    data["bench"] = BenchConfig.model_validate(data["bench"]).with_quick_counts().model_dump()
    return FleetConfig.model_validate(data)


def _retention(record: dict[str, Any]) -> dict[str, float]:
    r = (record.get("quality") or {}).get("retention") or {}
    return {"value": r["value"], "low": r["low"], "high": r["high"]}


def _records(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("records/*.json")}


def _verdict(row: dict[str, Any], out: Path, fleet: FleetConfig) -> dict[str, Any]:
    system = row["system"]
    choice = _records(out / system / "tpe").get(f"{system}__auto")
    if choice is None or choice.get("status") != "ok":
        reason = "no auto record" if choice is None else f"auto record {choice.get('status')}"
        return {"goal_met": False, "reason": reason}
    run_study(fleet, out / system / "default", systems=[system], report=False)
    default = next(iter(_records(out / system / "default").values()))
    a, b = _retention(default), _retention(choice)
    interval = difference_interval(a, b, strict=False)
    if interval is None:  # e.g. a percentile interval that leaves out its own value
        return {"goal_met": False, "reason": f"no retention difference interval: {a}, {b}"}
    diff = list(interval)
    high = (row.get("cost_ratio_ci95") or [None, None])[1]
    cheaper = high is not None and high <= CHEAPER
    return {
        "default_test_retention": a, "choice_test_retention": b,
        "retention_difference_ci95": diff, "retention_equal_or_better": diff[1] >= 0,
        "at_least_30pct_cheaper": cheaper,
        "goal_met": cheaper and diff[1] >= 0,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="select_search.py's JSON")
    parser.add_argument("--out", type=Path, required=True, help="the folder the search ran in")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    fleet = _default_fleet()
    for row in data["systems"]:
        row["goal"] = _verdict(row, args.out, fleet)
        print(json.dumps({"system": row["system"], **row["goal"]}), flush=True)
    rows = data["systems"]
    data["goal"] = {
        **data.get("goal", {}),
        "systems": len(rows),
        "choice_30pct_cheaper_at_equal_or_better_retention": sum(
            r["goal"]["goal_met"] for r in rows
        ),
        "optuna_hv_at_least_random": sum(r["optuna_hv_at_least_random"] is True for r in rows),
    }
    atomic_write_json(args.results, data)
    print(json.dumps(data["goal"]))


if __name__ == "__main__":
    main()
