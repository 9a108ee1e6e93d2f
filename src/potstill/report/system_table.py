"""The per-system table of the report: one row per record, narrow enough for a laptop.

Teacher and student share a column wherever both are measured ("teacher → student"), so
the table has twelve columns and fits a 1400-px window without scrolling; throughput
and every other headline figure stay in ``results.csv``. A cell that cannot hold a number
says why below the table: a black-box teacher has no parameter count, a memory probe
that was off or failed leaves the memory column empty, and on two classes DKD is KD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from potstill.evaluate.sanity import SUSPECT_RETENTION, is_suspect
from potstill.report.format import MISSING, esc, interval, md_table, metric, ms, pct, si, usd
from potstill.report.records import by_system, headline, headline_profile, profile_label
from potstill.results.aggregate import dig, estimate

__all__ = ["dkd_note", "per_system_section"]

Records = Sequence[Mapping[str, Any]]


#: No-break space: a "teacher → student" pair and a CI never break inside, only between.
NBSP = "\u00a0"


def _pair(teacher: str, student: str) -> str:
    if teacher == MISSING and student == MISSING:
        return MISSING
    return f"{teacher}{NBSP}→{NBSP}{student}"


def _retention(value: Any) -> str:
    """``93.0% [92.0%, 94.0%]`` that wraps, if at all, only before the bracket."""
    return interval(estimate(value)).replace(", ", "," + NBSP)


def _ms(x: Any) -> str:
    """Milliseconds, three significant digits, no unit (the header has it)."""
    return ms(x).removesuffix(" ms")


#: Runtimes shown first (after the costs' runtime) when both models were measured on them.
_PREFERRED_RUNTIMES = ("eager", "onnx", "native")


def _mb(x: Any) -> str:
    return f"{x:,.0f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else MISSING


def _per_runtime(record: Mapping[str, Any], role: str, *path: str) -> dict[str, float]:
    """A profile figure (at ``path``) of ``role`` per runtime, from its smallest batch."""
    found: dict[str, tuple[int, float]] = {}
    for p in record.get("profiles") or ():
        value = dig(p, *path)
        if not isinstance(value, (int, float)) or not str(p.get("model", "")).startswith(role):
            continue
        batch = int(p.get("batch_size") or 0)
        runtime = str(p.get("runtime"))
        if runtime not in found or batch < found[runtime][0]:
            found[runtime] = (batch, float(value))
    return {runtime: value for runtime, (_, value) in found.items()}


def _same_runtime(record: Mapping[str, Any], path: tuple[str, ...], show: Any) -> str:
    """Teacher → student on the same runtime (named), preferring the runtime the costs
    compare; without a shared runtime each figure is labelled with its own."""
    teacher = _per_runtime(record, "teacher", *path)
    student = _per_runtime(record, "student", *path)
    cost = dig(record, "costs", "extra", "student", "runtime")
    order = [cost, *_PREFERRED_RUNTIMES, *sorted(teacher)]
    shared = next((rt for rt in order if rt in teacher and rt in student), None)
    if shared is not None:
        return _pair(show(teacher[shared]), show(student[shared])) + f" ({esc(shared)})"
    return _pair(_labelled(teacher, show), _labelled(student, show))


def _memory(record: Mapping[str, Any]) -> str:
    """Teacher → student peak MB on the same runtime (named)."""
    return _same_runtime(record, ("peak_memory_mb",), _mb)


def _latency(record: Mapping[str, Any]) -> str:
    """Teacher → student p50 ms per call on the same runtime (named)."""
    return _same_runtime(record, ("latency", "p50_ms"), _ms)


def _labelled(values: Mapping[str, float], show: Any) -> str:
    """ "812 (onnx)": a figure that has no counterpart, named by its runtime."""
    if not values:
        return MISSING
    runtime, value = next(iter(values.items()))
    return f"{show(value)} ({esc(runtime)})"


def _row(r: Mapping[str, Any]) -> list[str]:
    h = headline(r)
    problem = h["metric"] is not None and h["higher_is_better"] is False
    fidelity = metric(h["agreement"]) if h["agreement"] is not None else (
        f"r={metric(h['pearson'])}" if h["pearson"] is not None else MISSING)  # fmt: skip
    return [
        esc(h["system"]), f"{esc(h['method'])} ({esc(h['family'])})",
        esc(h["status"].replace("_", " ")),
        esc(h["metric"] or MISSING) + (" (↓)" if problem else ""),
        _pair(metric(h["teacher_metric"]), metric(h["student_metric"])),
        _retention(dig(r, "quality", "retention")) + (" ⚠ suspect" if is_suspect(r) else ""),
        fidelity,
        _latency(r),
        _pair(si(h["teacher_params"]), si(h["student_params"])),
        _memory(r),
        _pair(usd(h["teacher_usd_per_million"]), usd(h["student_usd_per_million"])),
        _cost_reduction(r, h["cost_reduction"]),
    ]  # fmt: skip


def _cost_reduction(record: Mapping[str, Any], value: Any) -> str:
    """``62.0% [55.1%, 68.0%]`` (the record's interval over interleaved blocks); a
    reduction whose interval holds 0 reads ``tie``: the timing cannot tell the two apart."""
    ci = dig(record, "costs", "cost_reduction")
    if not isinstance(ci, Mapping) or ci.get("low") is None or ci.get("high") is None:
        return pct(value)
    text = f"{pct(value)} [{pct(ci['low'])},{NBSP}{pct(ci['high'])}]"
    return f"tie: {text}" if ci.get("tie") else text


def _latency_note(records: Records) -> str:
    labels = {
        profile_label(headline_profile(r, role)) for r in records for role in ("teacher", "student")
    }
    return "; ".join(sorted(labels - {""})) or "none measured"


def _params_note(records: Records) -> str:
    """Why a teacher's parameter count is "—": a black box, per system."""
    notes = []
    for system, recs in by_system(records).items():
        ok = [r for r in recs if r["status"] == "ok"]
        if not ok or headline(ok[0])["teacher_params"] is not None:
            continue
        backend = dig(ok[0], "teacher", "backend", default="black-box")
        notes.append(f"{esc(system)} ({esc(backend)})")
    if not notes:
        return ""
    return (
        "Params teacher — : the teacher is a black box whose parameter count is not defined "
        "(a tree ensemble or a predict function has no weight tensors to count; its cost is "
        f"still measured): {', '.join(notes)}."
    )


def _memory_reason(record: Mapping[str, Any]) -> str | None:
    """Why a record's student has no peak memory (None when it has one or is not ok)."""
    profile = headline_profile(record, "student")
    if record["status"] != "ok" or profile is None or profile.get("peak_memory_mb") is not None:
        return None
    if dig(profile, "settings", "memory") is False:
        return "memory probing was off (bench.memory: false)"
    error = dig(profile, "extra", "cold_start", "fresh_process_error")
    return str(error) if error else "no peak memory was recorded"


def _memory_note(records: Records) -> str:
    reasons: dict[str, list[str]] = {}
    for system, recs in by_system(records).items():
        for reason in dict.fromkeys(x for r in recs if (x := _memory_reason(r))):
            reasons.setdefault(reason, []).append(system)
    if not reasons:
        return ""
    parts = [
        f"{esc(why)} ({', '.join(esc(s) for s in systems)})" for why, systems in reasons.items()
    ]
    return "Peak MB — : " + "; ".join(parts) + "."


def _suspect_note(records: Records) -> str:
    """Why a retention is marked ⚠ suspect: each such record's warning."""
    lines = [
        f"- {esc(r['system'])} / {esc(r['method'])}: {esc(w.get('message', ''))}"
        for r in records
        for w in r.get("warnings") or []
        if isinstance(w, Mapping) and w.get("code") == "retention_suspect"
    ]
    if not lines:
        return ""
    low, high = SUSPECT_RETENTION
    return (
        f"⚠ suspect: a retention outside [{pct(low, 0)}, {pct(high, 0)}] usually means the "
        "comparison is wrong (class order, target or features do not match the teacher), not "
        "that the student is that much better or worse:\n\n" + "\n".join(lines)
    )


def dkd_note(records: Records) -> str:
    """Why DKD's figures equal KD's on a binary system that ran both (empty otherwise)."""
    systems = []
    for system, recs in by_system(records).items():
        methods = {r["method"] for r in recs if r["status"] == "ok"}
        binary = any(dig(r, "dataset", "n_classes") == 2 for r in recs)
        if binary and {"kd", "dkd"} <= methods:
            systems.append(esc(system))
    if not systems:
        return ""
    return (
        f"DKD = KD on two classes ({', '.join(systems)}): DKD splits KD into a target-class "
        "term (TCKD) and a non-target term (NCKD). With two classes there is one non-target "
        "class, whose renormalised distribution is always 1, so NCKD vanishes and DKD is "
        "α·TCKD; and TCKD on two classes is KD's loss itself. With the defaults (α = 1, the "
        "same temperature, no warm-up) DKD "
        "trains exactly like KD, so its figures equal KD's: not a bug, a property of the "
        "method (Zhao et al., 2022)."
    )


def per_system_section(records: Records) -> str:
    """One row per record with the headline numbers; n/a and failed rows included."""
    table = md_table(
        ["System", "Method (family)", "Status", "Metric", "Teacher → student",
         "Retention [CI]", "Agreement", "p50 ms, teacher → student",
         "Params, teacher → student", "Peak MB, teacher → student",
         "$/1M, teacher → student", "Cost reduction"],
        [_row(r) for r in records],
        right=4,
    )  # fmt: skip
    notes = [_suspect_note(records), _params_note(records), _memory_note(records)]
    notes = [n for n in (*notes, dkd_note(records)) if n]
    return (
        "## Per-system results\n\n"
        "Every run record, whatever its status. Latency is the median (p50) per call at the "
        "smallest batch, teacher and student on the same runtime (named in brackets, the "
        f"costs' runtime first; headline profiles: {_latency_note(records)}); Agreement is "
        "top-1 agreement "
        "with the teacher (r = Pearson correlation for regression); (↓): lower is better; "
        "Peak MB is the peak resident memory of a fresh process serving the model, teacher "
        "and student on the same runtime (named in brackets; a figure measured on no runtime "
        "the other was measured on is labelled with its own and not compared); $/1M and "
        "Cost reduction compare the cheapest deployments, as in the Results section; the "
        "reduction's bracket is its 95% bootstrap interval over the interleaved timing "
        "blocks, and a reduction whose interval holds 0 reads *tie*. "
        "Throughput and every other figure: `results.csv`.\n\n"
        + table
        + "".join(f"\n\n{n}" for n in notes)
    )
