"""Compare two study folders' records, ignoring what is measured anew on every run.

    python benchmarks/compare_studies.py A B [--ignore FIELD ...]

"Behaviour unchanged" after a refactor means: the same records (same systems and
methods), with the same quality, students, teachers, gates and warnings. Timings,
cost profiles, the headline costs and the environment are measured again on every run
and differ by nature, so they are left out, as are cache hits, creation times and the
git revision. Every other field is compared exactly (floats too: the training is
seeded and deterministic on CPU), unless ``--rtol`` allows floats a relative tolerance —
for a change that is meant to round differently in the last bits (a fused optimiser, a
numpy metric in place of scikit-learn's), where exact equality cannot hold.

Prints one line per difference (``key: path: A-value != B-value``), then a final JSON
line ``{"a": .., "b": .., "records": n, "identical": n, "differences": n, "only_a": [..],
"only_b": [..], "ignored": [..], "equal": bool}``. Exits 0 when equal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Record fields measured anew on every run (dotted paths; a prefix covers what is below).
IGNORED = (
    "timings",
    "profiles",
    "costs",
    "environment",
    "git_revision",
    "created_at",
    "teacher.cached",
    "teacher.cache_dir",
    "student.teacher_cache",
    "error.traceback",
)


def _records(folder: Path) -> dict[str, Any]:
    records = folder / "records"
    if not records.is_dir():
        raise SystemExit(f"'{folder}' has no records/ folder: not a potstill study.")
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(records.glob("*.json"))
    }


def _ignored(path: str, ignored: tuple[str, ...]) -> bool:
    return any(path == i or path.startswith(i + ".") or path.startswith(i + "[") for i in ignored)


def _show(mapping: dict[str, Any], key: str) -> str:
    return json.dumps(mapping[key])[:120] if key in mapping else "(absent)"


def _close(a: Any, b: Any, rtol: float) -> bool:
    numbers = (int, float)
    if rtol <= 0 or isinstance(a, bool) or isinstance(b, bool):
        return False
    if not isinstance(a, numbers) or not isinstance(b, numbers):
        return False
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def differences(
    a: Any, b: Any, ignored: tuple[str, ...], path: str = "", rtol: float = 0.0
) -> Iterator[str]:
    """Every path where ``a`` and ``b`` differ, outside the ``ignored`` paths (numbers
    within ``rtol`` of each other count as equal)."""
    if path and _ignored(path, ignored):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                if not _ignored(sub, ignored):
                    yield f"{sub}: {_show(a, key)} != {_show(b, key)}"
                continue
            yield from differences(a[key], b[key], ignored, sub, rtol)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differences(x, y, ignored, f"{path}[{i}]", rtol)
    elif a != b and not _close(a, b, rtol):
        yield f"{path}: {json.dumps(a)[:120]} != {json.dumps(b)[:120]}"


def compare(a: Path, b: Path, ignored: tuple[str, ...], rtol: float = 0.0) -> dict[str, Any]:
    """Print the differences between two studies' records; return the summary."""
    ra, rb = _records(a), _records(b)
    shared = sorted(set(ra) & set(rb))
    n_diff, identical = 0, 0
    for key in shared:
        found = list(differences(ra[key], rb[key], ignored, rtol=rtol))
        for line in found:
            print(f"{key}: {line}")
        n_diff += len(found)
        identical += not found
    only_a, only_b = sorted(set(ra) - set(rb)), sorted(set(rb) - set(ra))
    return {
        "a": str(a),
        "b": str(b),
        "records": len(shared),
        "identical": identical,
        "differences": n_diff,
        "only_a": only_a,
        "only_b": only_b,
        "ignored": list(ignored),
        "rtol": rtol,
        "equal": n_diff == 0 and not only_a and not only_b and bool(shared),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="first study folder")
    parser.add_argument("b", type=Path, help="second study folder")
    parser.add_argument(
        "--ignore", action="append", default=[], help="another dotted field path to leave out"
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=0.0,
        help="relative tolerance for numbers (default 0: exact)",
    )
    args = parser.parse_args(argv)
    summary = compare(args.a, args.b, (*IGNORED, *args.ignore), rtol=args.rtol)
    print(json.dumps(summary))
    return 0 if summary["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
