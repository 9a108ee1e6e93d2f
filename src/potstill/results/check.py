"""``check_study``: re-apply deployment gates to a finished study, for CI.

``potstill check DIR`` calls :func:`check_study` and exits 1 unless ``report.passed``. The
check is a pure function of the stored records and the thresholds: the study's own
``DIR/config.yaml`` (read by the fleet loader, like the study that wrote it) key ``gates``,
with every non-None field of ``overrides`` (the CLI flags) taking precedence. A system
that sets its own ``gates`` uses those instead of the fleet's (its
:class:`~potstill.config.SystemPlan`, as the study runner does), again under the overrides.

Decisions, so that a green check means something:

- every record with status ``"ok"`` is gated; the from-scratch baselines (family
  ``baseline``) are shown apart and never counted among the students that passed: they
  are the control, not a distilled student;
- a gate is ``pass``, ``fail`` or ``not measured``; a not-measured gate fails only under
  ``strict`` (``--strict`` or ``gates.strict``), and the verdict says how many there were;
- ``passed`` is False when any gate of a distilled student fails, when an ``ok`` record has
  no quality, and when no distilled student was measured at all (every distillation run
  failed or was not applicable: judging only the baseline is not a pass);
- records that failed or were not applicable are listed as skipped, not gated;
- no thresholds at all (no ``gates`` in the config, no overrides) is a ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from potstill.config import load_fleet
from potstill.errors import ConfigError, StoreError
from potstill.evaluate.config import GatesConfig
from potstill.evaluate.gates import apply_gates, quality_from_dict
from potstill.results.store import ResultStore

__all__ = [
    "CheckReport",
    "CheckRow",
    "Skipped",
    "StudyGates",
    "check_study",
    "gates_from_config",
]


@dataclass(frozen=True)
class CheckRow:
    """One gate on one student."""

    system: str
    method: str
    family: str
    gate: str
    value: float | None
    threshold: float | None
    passed: bool
    reason: str
    status: str = ""  # "pass" | "fail" | "not measured" (empty: follows passed)

    @property
    def outcome(self) -> str:
        """The gate's status: ``pass``, ``fail`` or ``not measured``."""
        return self.status or ("pass" if self.passed else "fail")

    @property
    def baseline(self) -> bool:
        """A from-scratch baseline's row: shown, never counted among the students."""
        return self.family == "baseline"


@dataclass(frozen=True)
class Skipped:
    """A record that was not gated, and why."""

    system: str
    method: str
    status: str
    reason: str


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :func:`check_study`; ``passed`` decides the CLI's exit code."""

    directory: Path
    gates: GatesConfig
    rows: tuple[CheckRow, ...]
    skipped: tuple[Skipped, ...] = ()
    system_gates: Mapping[str, GatesConfig] = field(default_factory=dict)

    @property
    def students(self) -> tuple[CheckRow, ...]:
        """The rows of distilled students (the from-scratch baselines left out)."""
        return tuple(row for row in self.rows if not row.baseline)

    @property
    def passed(self) -> bool:
        """True iff at least one distilled student was gated and none failed a gate."""
        rows = self.students
        return bool(rows) and all(row.outcome != "fail" for row in rows)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        return tuple(row for row in self.rows if row.outcome == "fail")

    def summary(self) -> dict[str, dict[str, dict[str, int]]]:
        """Students per gate and family: ``{gate: {family: {passed, total, not_measured}}}``."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for row in self.rows:
            cell = out.setdefault(row.gate, {}).setdefault(
                row.family, {"passed": 0, "total": 0, "not_measured": 0}
            )
            cell["total"] += 1
            cell["passed"] += int(row.outcome == "pass")
            cell["not_measured"] += int(row.outcome == "not measured")
        return out

    def verdict(self) -> str:
        """The last line: PASSED/FAILED, the distilled students counted, and why."""
        students = {(r.system, r.method) for r in self.students}
        failed = {(r.system, r.method) for r in self.students if r.outcome == "fail"}
        unmeasured = sum(r.outcome == "not measured" for r in self.students)
        if not students:
            return (
                "FAILED: no distilled student was measured (every distillation run failed or "
                "was not applicable); a from-scratch baseline alone does not pass."
            )
        head = "PASSED" if self.passed else "FAILED"
        text = f"{head}: {len(students) - len(failed)} of {len(students)} distilled students "
        if not unmeasured:
            return text + "passed every gate."
        # under strict a not-measured gate is a failure, so this is the lenient case
        return (
            text + f"passed every measured gate; {unmeasured} gate(s) not measured "
            "(they fail under --strict)."
        )

    def render(self) -> str:
        """A plain-text table for the terminal, ending with the verdict."""

        def show(gates: GatesConfig) -> str:
            text = ", ".join(f"{k}={v:g}" for k, v in gates.thresholds().items()) or "(none)"
            return text + (" (strict)" if gates.strict else "")

        lines = [f"potstill check {self.directory}", f"gates: {show(self.gates)}"]
        lines += [f"gates of {name}: {show(g)}" for name, g in sorted(self.system_gates.items())]
        lines += ["", *_table(self.students)]
        baselines = [r for r in self.rows if r.baseline]
        if baselines:
            lines += ["", "from-scratch baselines (the control; not counted among the students):"]
            lines += _table(baselines)
        for skip in self.skipped:
            lines.append(
                f"skipped {skip.system}/{skip.method}: status {skip.status}"
                + (f" ({skip.reason})" if skip.reason else "")
            )
        return "\n".join([*lines, "", self.verdict()])


_RESULT = {"pass": "PASS", "fail": "FAIL", "not measured": "NOT MEASURED"}


def _table(rows: tuple[CheckRow, ...] | list[CheckRow]) -> list[str]:
    if not rows:
        return ["no distilled student with status 'ok' to check"]
    header = ("system", "method", "gate", "value", "threshold", "result", "reason")
    table = [header] + [
        (
            r.system,
            r.method,
            r.gate,
            "-" if r.value is None else f"{r.value:.4g}",
            "-" if r.threshold is None else f"{r.threshold:g}",
            _RESULT[r.outcome],
            r.reason,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in table
    ]


@dataclass(frozen=True)
class StudyGates:
    """The gates a study's config declares: fleet-wide, and per system where a system
    sets its own (which then *replace* the fleet's, as the study runner applies them)."""

    fleet: GatesConfig
    systems: Mapping[str, GatesConfig]

    def for_system(self, system: str) -> GatesConfig:
        return self.systems.get(system, self.fleet)


def gates_from_config(directory: Path) -> StudyGates:
    """The gates of ``DIR/config.yaml``, read by the fleet loader (:func:`load_fleet`, so a
    bad file is refused with its field path): the fleet's ``gates``, and each system's plan
    where the system sets its own. No ``config.yaml`` gives empty gates.
    """
    path = Path(directory) / "config.yaml"
    if not path.is_file():
        return StudyGates(fleet=GatesConfig(), systems={})
    fleet = load_fleet(path)
    own = {p.name: p.gates for p in fleet.expanded().plans() if p.spec.gates is not None}
    return StudyGates(fleet=fleet.gates, systems=own)


def _rows_for(record: Mapping[str, Any], gates: GatesConfig, where: str) -> list[CheckRow]:
    system, method = str(record["system"]), str(record["method"])
    family = str(record.get("family", ""))
    if not record.get("quality"):
        return [
            CheckRow(
                system,
                method,
                family,
                "quality",
                None,
                None,
                False,
                "record has status 'ok' but no quality measurements",
            )
        ]
    quality = quality_from_dict(record["quality"], where=f"{where}, field 'quality'")
    return [
        CheckRow(system, method, family, g.name, g.value, g.threshold, g.passed, g.reason, g.status)
        for g in apply_gates(quality, gates)
    ]


def check_study(directory: Path, overrides: GatesConfig | None = None) -> CheckReport:
    """Gate every ``ok`` record of the study in ``directory``.

    Raises ``StoreError`` when the directory or its records cannot be read, ``ConfigError``
    when ``config.yaml`` is malformed or no gate has a threshold.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise StoreError(
            f"The study directory '{directory}' does not exist. Pass the --out folder of "
            "'potstill study' or 'potstill demo'."
        )
    if not (directory / "config.yaml").is_file() and not (directory / "records").is_dir():
        raise StoreError(
            f"'{directory}' holds no potstill study (no config.yaml, no records/). Pass the "
            "--out folder of 'potstill study', 'potstill distill' or 'potstill demo'."
        )
    declared = gates_from_config(directory)
    fleet = declared.fleet.merged(overrides)
    per_system = {name: g.merged(overrides) for name, g in declared.systems.items()}
    if fleet.is_empty() and all(g.is_empty() for g in per_system.values()):
        raise ConfigError(
            f"No gates to check: '{directory / 'config.yaml'}' has no 'gates' and no "
            "threshold was given. Pass at least one, e.g. --min-retention 0.97."
        )
    rows: list[CheckRow] = []
    skipped: list[Skipped] = []
    for record in ResultStore(directory).load_all():
        where = f"record {record.get('system')}/{record.get('method')} in {directory}"
        if record.get("status") != "ok":
            skipped.append(
                Skipped(
                    str(record["system"]),
                    str(record["method"]),
                    str(record.get("status")),
                    str(record.get("reason", "")),
                )
            )
            continue
        gates = per_system.get(str(record["system"]), fleet)
        rows.extend(_rows_for(record, gates, where))
    return CheckReport(
        directory=directory,
        gates=fleet,
        rows=tuple(rows),
        skipped=tuple(skipped),
        system_gates=per_system,
    )
