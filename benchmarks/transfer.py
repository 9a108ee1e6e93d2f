"""Does distillation pay when labels are scarce, and at which student size? (issue 13)

The 8 enterprise systems of the built-in fleet × seeds × labels {100 %, 10 %} × the
default student and three smaller sizes (``student.sizes``), each trained from scratch, by
KD on the labelled rows only, by KD with a transfer set, and by pseudo-labels (the
teacher's hard labels on the same transfer set). Three studies, each a fleet YAML run by
``potstill study`` as a subprocess:

- ``labels100_munge``: all labels; transfer set: MUNGE rows (``transfer: {kind: munge}``);
- ``labels10_unlabelled``: ``dataset.labelled_fraction: 0.1``; the transfer set is the
  other 90 % of the training rows, without their labels;
- ``labels10_munge``: 10 % of the labels; the unlabelled rest plus MUNGE rows.

(With all labels and no synthetic rows a transfer set would be empty, so that study is not
run.) Every figure is read back from the studies' records and kept test scores: each
method's gain over scratch at each size is the paired bootstrap on the same test rows,
combined over the seeds (``potstill.report.capacity``, as the report computes it), with its
interval and verdict; the best method per size is Holm-corrected. The closing figure: on
how many systems KD with a transfer set is "helped (CI above 0)" at the default size with
10 % of the labels (issue 13's goal: 6 of 8).

The transfer set and ``labelled_fraction`` come with the transfer-set feature; on a tree
without them only the parts that exist run (scratch and KD at every size) and the JSON's
``skipped`` says what was left out.

Writes benchmarks/results/transfer.json (``--quick``: transfer_quick.json) and prints it as
one JSON object on the final line.

    python benchmarks/transfer.py [--out DIR] [--systems a,b] [--seeds 0,1,2]
    python benchmarks/transfer.py --studies labels10_unlabelled --sizes 1  # a subset:
        # writes transfer_subset.json, saying which part ran
    python benchmarks/transfer.py --quick [--seeds 0,1]  # 1 system, 2 sizes, short training
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from potstill._io import atomic_write_json
from potstill.config import FleetConfig, GridEntry
from potstill.costs.config import PRESETS
from potstill.data.spec import DatasetSpec
from potstill.evaluate.verdict import HELPED
from potstill.report.capacity import Capacity, capacity
from potstill.results.store import ResultStore
from potstill.runner import builtin_fleet

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARK = "benchmark"  # the built-in fleet's vision system's sector: not enterprise
#: Each study: labelled fraction, transfer set (None: only the unlabelled rest).
STUDIES: dict[str, tuple[float, dict[str, Any] | None]] = {
    "labels100_munge": (1.0, {"kind": "munge", "size": 1.0}),
    "labels10_unlabelled": (0.1, None),
    "labels10_munge": (0.1, {"kind": "munge", "size": 1.0}),
}
QUICK = {
    "train": {"epochs": 6, "batch_size": 64, "lr": 0.003, "patience": 3},
    "bench": {**PRESETS["quick"], "batch_sizes": [1, 16], "runtimes": ["eager"]},
    "evaluate": {"n_resamples": 200, "robustness": False},
}  # fmt: skip
FULL = {
    "bench": {"warmup": 10, "min_calls": 50, "min_seconds": 0.3, "max_seconds": 10.0,
              "block_calls": 10, "batch_sizes": [1, 32], "sweep_min_calls": 10,
              "sweep_min_seconds": 0.1, "runtimes": ["eager", "onnx"], "memory": False},
    "evaluate": {"n_resamples": 1000, "robustness": False},
}  # fmt: skip


def transfer_supported() -> bool:
    """Whether this tree has the transfer-set keys the 10 % and transfer studies need."""
    return (
        "labelled_fraction" in DatasetSpec.model_fields
        and "pseudo_label" in GridEntry.model_fields
        and "transfer" in FleetConfig.model_fields
    )


def sizes_of(student: dict[str, Any], quick: bool, keep: int = 4) -> list[float | int]:
    """The system's default student and three smaller ones (quick: one smaller; ``keep``:
    the first ``keep`` of them, the default size first)."""
    if student.get("target_params"):
        target = int(student["target_params"])
        sizes: list[float | int] = [target, target // 4, target // 10, target // 40]
    else:
        width = float(student.get("width", 0.5))
        sizes = [float(f"{width * f:.3g}") for f in (1.0, 0.4, 0.2, 0.08)]
    return [sizes[0], sizes[2]] if quick else sizes[:keep]


def builtin_train() -> dict[str, Any]:
    """The built-in fleet's training settings (the full run trains as the demo does)."""
    return dict(builtin_fleet().model_dump(mode="json", exclude_defaults=True).get("train", {}))


def enterprise_systems(names: list[str] | None) -> list[dict[str, Any]]:
    """The built-in fleet's enterprise systems (all but the vision benchmark), as dicts."""
    fleet = builtin_fleet().model_dump(mode="json", exclude_defaults=True)
    systems = [s for s in fleet["systems"] if s["name"] != "fashion_mnist"]
    if names:
        unknown = sorted(set(names) - {s["name"] for s in systems})
        if unknown:
            raise SystemExit(f"unknown enterprise system(s) {unknown}")
        systems = [s for s in systems if s["name"] in names]
    return systems


def _kd(label: str, **extra: Any) -> dict[str, Any]:
    """KD (kd_regression on regression systems), a fresh dict each time (no YAML aliases)."""
    return {"label": label, "methods": [{"name": "kd"}],
            "regression_methods": [{"name": "kd_regression"}], **extra}  # fmt: skip


def grid(with_transfer: bool) -> list[Any]:
    if not with_transfer:
        return ["scratch", _kd("kd")]
    return ["scratch", _kd("kd", transfer=False), _kd("kd_transfer"), "pseudo_label"]


def fleet_yaml(
    study: str,
    systems: list[dict[str, Any]],
    seeds: list[int],
    quick: bool,
    with_transfer: bool,
    keep: int = 4,
) -> dict[str, Any]:
    """The fleet of one study: every system at its sizes, the study's labels and transfer."""
    fraction, transfer = STUDIES[study]
    out_systems = []
    for s in systems:
        dataset = dict(s["dataset"])
        if with_transfer and fraction < 1.0:
            dataset["labelled_fraction"] = fraction
        student = {k: v for k, v in s.get("student", {}).items() if k != "sizes"}
        out_systems.append({"name": s["name"], "dataset": dataset, "teacher": s["teacher"],
                            "student": {**student, "sizes": sizes_of(student, quick, keep)}})  # fmt: skip
    settings = QUICK if quick else {"train": builtin_train(), **FULL}
    fleet: dict[str, Any] = {"name": f"transfer-{study}", "seeds": seeds,
                             "grid": grid(with_transfer), **settings, "systems": out_systems}  # fmt: skip
    if with_transfer and transfer is not None:
        fleet["transfer"] = transfer
    return fleet


def run_study(path: Path, out: Path) -> tuple[int, float]:
    """``potstill study`` on ``path`` into ``out``: (exit code, wall seconds)."""
    cmd = [sys.executable, "-m", "potstill.cli", "study", str(path), "--out", str(out),
           "--log-format", "plain"]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=False)
    if done.returncode not in (0, 1, 3):  # 1: a gate failed; 3: a run failed (recorded)
        raise SystemExit(f"potstill study exited {done.returncode}: {' '.join(cmd)}")
    return done.returncode, time.perf_counter() - t0


def _gain(gain: Any) -> dict[str, Any] | None:
    keys = ("value", "low", "high", "share_above_zero", "p_helped", "n_seeds", "n_test")
    return {k: gain.get(k) for k in keys} if gain else None


def study_summary(cap: Capacity, code: int, wall: float, fleet: dict[str, Any]) -> dict[str, Any]:
    rows = [{"system": r.system, "size": r.size, "method": r.method, "params": r.params,
             "metric": r.metric, "usd_per_million": r.usd, "gain_over_scratch": _gain(r.gain),
             "verdict": r.verdict if r.family != "baseline" else None, "n_seeds": r.n_seeds}
            for r in cap.rows]  # fmt: skip
    best = [{"system": b.system, "size": b.size, "method": b.method, "p_holm": b.p_holm,
             "verdict_best_of_k": b.verdict} for b in cap.best]  # fmt: skip
    return {"exit_code": code, "wall_s": round(wall, 1), "metric": dict(cap.metric),
            "labelled_fraction": _fraction(fleet), "transfer": fleet.get("transfer"),
            "rows": rows, "best": best}  # fmt: skip


def _fraction(fleet: dict[str, Any]) -> float:
    return float(fleet["systems"][0]["dataset"].get("labelled_fraction", 1.0))


def goal(studies: dict[str, Any], systems: list[str]) -> dict[str, Any]:
    """KD with a transfer set helped (CI above 0) at the default size with 10 % labels."""
    per: dict[str, dict[str, str | None]] = {s: {} for s in systems}
    for name in ("labels10_unlabelled", "labels10_munge"):
        for r in studies.get(name, {}).get("rows", []):
            default = next(x["size"] for x in studies[name]["rows"] if x["system"] == r["system"])
            if r["method"] == "kd_transfer" and r["size"] == default:
                per[r["system"]][name] = r["verdict"]
    count = {name: sum(v.get(name) == HELPED for v in per.values())
             for name in ("labels10_unlabelled", "labels10_munge") if name in studies}  # fmt: skip
    measured = any(per.values())
    return {"description": "systems where KD + transfer set is 'helped (CI above 0)' at the "
            "default size with 10% labels (paired bootstrap combined over seeds)",
            "target": "6 of 8", "of": len(systems), "helped": count if measured else None,
            "per_system": per, "met": (max(count.values()) >= 6) if count and measured else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 system, 1 seed, 2 sizes")
    parser.add_argument("--systems", default="", help="comma-separated enterprise systems")
    parser.add_argument("--seeds", default=None, help="comma-separated (default 0,1,2; quick: 0)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the studies")
    parser.add_argument("--studies", default="", help=f"comma-separated subset of {list(STUDIES)}")
    parser.add_argument("--sizes", type=int, default=4, help="the first N sizes (1: default only)")
    args = parser.parse_args()
    subset = [s for s in args.studies.split(",") if s]
    partial = bool(subset) or args.sizes < 4
    names = [s for s in args.systems.split(",") if s] or (["heart_disease"] if args.quick else None)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    systems = enterprise_systems(names)
    with_transfer = transfer_supported()
    root = args.out or Path(tempfile.mkdtemp(prefix="potstill-transfer-"))
    run = STUDIES if with_transfer else {"labels100": STUDIES["labels100_munge"]}
    run = {k: v for k, v in run.items() if not subset or k in subset}
    studies: dict[str, Any] = {}
    t0 = time.perf_counter()
    for study in run:
        fleet = fleet_yaml(study if with_transfer else "labels100_munge", systems, seeds,
                           args.quick, with_transfer, args.sizes)  # fmt: skip
        path = root / f"{study}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        FleetConfig.model_validate(fleet)  # a bad fleet is refused here, before any work
        path.write_text(yaml.safe_dump(fleet, sort_keys=False), encoding="utf-8")
        code, wall = run_study(path, root / study)
        config = yaml.safe_load((root / study / "config.yaml").read_text(encoding="utf-8"))
        cap = capacity(root / study, ResultStore(root / study).load_all(), config)
        studies[study] = study_summary(cap, code, wall, fleet)
    skipped = [] if with_transfer else [
        "transfer sets, labelled_fraction and pseudo_label are not in this tree: only "
        "scratch and KD with all labels ran (the 10 % and transfer studies did not)"]  # fmt: skip
    result = {
        "benchmark": "transfer", "quick": args.quick, "seeds": seeds,
        "command": "python benchmarks/transfer.py " + " ".join(sys.argv[1:]),
        "partial": partial, "sizes_per_system": 2 if args.quick else args.sizes,
        "systems": [s["name"] for s in systems], "studies": studies, "skipped": skipped,
        "goal": goal(studies, [s["name"] for s in systems]),
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }  # fmt: skip
    name = "transfer_quick" if args.quick else "transfer_subset" if partial else "transfer"
    atomic_write_json(RESULTS / f"{name}.json", result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
