"""How the numbers were made: datasets, methodology, pipeline diagram and references.

A reader must be able to judge the report without the code: which data (with licence and
caveats such as AI4I 2020 being synthetic), which configuration (``config.yaml`` as
resolved), which machine (``environment.json``), how timing was done (every record's
cost-profile ``settings``), which price entries turned seconds into dollars, and which
papers the methods come from. All of it is read from the study directory.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from potstill.report.claims import PAPER_CITATION
from potstill.report.format import MISSING, code_block, count, esc, md_table, plural, usd
from potstill.results.aggregate import FAMILY_ORDER, dig

__all__ = [
    "datasets_section",
    "flatten",
    "methodology_section",
    "noise_text",
    "pipeline_mermaid",
    "pipeline_section",
    "references_section",
]

Records = Sequence[Mapping[str, Any]]


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` → ``[("a.b", 1)]``; lists stay whole (shown as JSON)."""
    if isinstance(value, Mapping) and value:
        return [
            pair for k, v in value.items() for pair in flatten(v, f"{prefix}.{k}" if prefix else k)
        ]
    return [(prefix, value)]


def _raw(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _show(value: Any) -> str:
    return esc(_raw(value))


def _split_text(info: Mapping[str, Any]) -> str:
    """How the rows were split, rows per split and imputed cells, from ``dataset.split``."""
    split = info.get("split")
    if not isinstance(split, Mapping) or not split:
        return MISSING
    rows = split.get("rows") or {}
    sizes = "/".join(count(rows.get(k)) for k in ("train", "val", "test"))
    text = f"{split.get('description', split.get('how', MISSING))}; train/val/test {sizes}"
    imputed = split.get("imputed_cells") or {}
    if any(imputed.get(k) for k in ("train", "val", "test")):
        text += "; empty cells imputed " + "/".join(
            count(imputed.get(k)) for k in ("train", "val", "test")
        )
    return text


def _system_warnings(records: Records) -> str:
    """Each system-level warning of the records (weak teacher, test rows it may have
    seen), once per system."""
    seen: dict[tuple[str, str], str] = {}
    for r in records:
        for w in r.get("warnings") or []:
            if isinstance(w, Mapping) and w.get("code") != "retention_suspect":
                seen.setdefault((r["system"], str(w.get("code"))), str(w.get("message", "")))
    lines = [f"- **{esc(system)}**: {esc(message)}" for (system, _), message in seen.items()]
    return "\n\n**Warnings.**\n\n" + "\n".join(lines) if lines else ""


def datasets_section(records: Records) -> str:
    """One row per dataset the records name, with the systems that use it and the split."""
    seen: dict[str, tuple[Mapping[str, Any], list[str]]] = {}
    for r in records:
        raw = r.get("dataset")
        info: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        entry = seen.setdefault(str(info.get("name", "unknown")), (info, []))
        if r["system"] not in entry[1]:
            entry[1].append(r["system"])
    rows = [
        [esc(name), esc(", ".join(systems)), esc(info.get("source", MISSING)),
         esc(info.get("licence", MISSING)), count(info.get("n_rows") or None),
         count(info.get("n_features") or None), esc(_split_text(info)),
         esc(info.get("note") or MISSING)]
        for name, (info, systems) in seen.items()
    ]  # fmt: skip
    head = ["Dataset", "Systems", "Source", "Licence", "Rows", "Features", "Split", "Notes"]
    return "## Datasets\n\n" + md_table(head, rows) + _system_warnings(records)


_MAX_VALUES, _MAX_CHARS = 4, 80


def _short(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def _settings_table(records: Records) -> str:
    seen: dict[str, Counter[str]] = {}
    runtimes: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    for r in records:
        for p in r.get("profiles") or ():
            runtimes[f"{p.get('runtime')} (batch {p.get('batch_size')})"] += 1
            for key, value in flatten(p.get("settings") or {}):
                seen.setdefault(key, Counter())[_raw(value)] += 1
            for flag in (
                *dig(p, "latency", "flags", default=()),
                *(f"{u} unreliable" for u in dig(p, "latency", "unreliable", default=())),
            ):
                flags[str(flag)] += 1
    if not runtimes:
        return "No cost profiles were recorded."

    def seen_as(counter: Counter[str], limit: int = _MAX_VALUES) -> str:
        common = counter.most_common()
        shown = [f"{esc(_short(value))} ({n} profiles)" for value, n in common[:limit]]
        if len(common) > limit:
            shown.append(f"… and {len(common) - limit} other values")
        return "; ".join(shown)

    rows = [[esc(k), seen_as(v)] for k, v in sorted(seen.items())]
    rows.append(["runtime (batch size)", seen_as(runtimes, len(runtimes))])
    rows.append(["latency flags", seen_as(flags, len(flags)) if flags else "none"])
    return md_table(["Setting", "Values seen"], rows)


def _prices(records: Records) -> str:
    entries: Counter[str] = Counter()
    keep: dict[str, Mapping[str, Any]] = {}
    for r in records:
        inst = dig(r, "costs", "instance")
        if isinstance(inst, Mapping):
            key = json.dumps(inst, sort_keys=True)
            entries[key] += 1
            keep[key] = inst
    rows = [
        [esc(keep[k].get("provider", MISSING)), esc(keep[k].get("instance", MISSING)),
         esc(keep[k].get("region", MISSING)), str(keep[k].get("vcpus", MISSING)),
         usd(keep[k].get("usd_per_hour"), 4),
         esc(keep[k].get("source", MISSING)), esc(keep[k].get("date", MISSING)), str(n)]
        for k, n in entries.items()
    ]  # fmt: skip
    head = ["Provider", "Instance", "Region", "vCPUs", "$/hour", "Source", "Date", "Runs"]
    return md_table(head, rows) if rows else "No record carries a price entry."


def _record_facts(records: Records) -> str:
    totals: dict[str, float] = {}
    for r in records:
        for phase, seconds in (r.get("timings") or {}).items():
            if isinstance(seconds, (int, float)):
                totals[phase] = totals.get(phase, 0.0) + seconds
    facts = [
        ("seeds", sorted({str(r.get("seed")) for r in records})),
        ("config hashes", sorted({str(r.get("config_hash")) for r in records})),
        ("git revisions", sorted({str(r.get("git_revision")) for r in records})),
        ("schema versions", sorted({str(r.get("schema_version")) for r in records})),
    ]
    lines = [f"- {name}: {esc(', '.join(values))}" for name, values in facts]
    spent = ", ".join(f"{esc(k)} {v:,.1f} s" for k, v in sorted(totals.items()))
    lines.append(f"- compute time recorded, summed over runs: {spent or MISSING}")
    created = sorted(str(r.get("created_at")) for r in records if r.get("created_at"))
    if created:
        lines.append(f"- records created from {esc(created[0])} to {esc(created[-1])}")
    return "\n".join(lines)


def methodology_section(
    records: Records, config_text: str | None, environment: Mapping[str, Any] | None
) -> str:
    """Timing settings, prices, environment and configuration, as recorded."""
    env = (
        md_table(["Key", "Value"], [[esc(k), _show(v)] for k, v in flatten(environment)])
        if environment
        else "*No `environment.json` in the study directory.*"
    )
    config = (
        code_block(config_text, "yaml")
        if config_text is not None
        else "*No `config.yaml` in the study directory.*"
    )
    return (
        "## Methodology\n\n"
        "Each system's teacher and students were trained, evaluated on the same test split and "
        "timed by potstill, one run record per (system, method). Teacher and student are timed "
        "in the same process, interleaved, after warm-up; the settings below are read from "
        "every record's cost profiles. Dollars are measured throughput converted with the "
        "price entry each record names. Confidence intervals are paired bootstraps over the "
        "test split, as recorded; a distilled student's gain over the from-scratch student is "
        "bootstrapped on the same resampled rows for both.\n\n"
        f"### How timing was done\n\n{_settings_table(records)}\n\n"
        f"### Costs under noise\n\n{noise_text(records)}\n\n"
        f"### Prices\n\n{_prices(records)}\n\n"
        f"### Runs\n\n{_record_facts(records)}\n\n"
        f"### Environment (`environment.json`)\n\n{env}\n\n"
        f"### Study configuration (`config.yaml`)\n\n{config}"
    )


def _contention(records: Records) -> list[Mapping[str, Any]]:
    return [p["extra"]["contention"] for r in records for p in r.get("profiles") or ()
            if isinstance(dig(p, "extra", "contention"), Mapping)]  # fmt: skip


def noise_text(records: Records) -> str:
    """How the costs' intervals were made and what contention the timing met, counted
    from the records."""
    intervals = [
        ci for r in records if isinstance(ci := dig(r, "costs", "cost_reduction"), Mapping)
    ]
    ties = sum(bool(ci.get("tie")) for ci in intervals)
    seen = _contention(records)
    text = (
        "Every cost reduction carries a 95% percentile-bootstrap interval over the interleaved "
        "timing blocks (teacher and student blocks of the same round resampled together); a "
        "reduction whose interval holds 0 is reported as a tie. "
        f"Records with an interval: {len(intervals)}; ties among them: {ties}. "
        "Around every block the process's CPU time over wall time was read: a block below "
        "the threshold waited for the CPU and was timed again (bounded retries), and the "
        "machine's 1-minute load was recorded."
    )
    if not seen:
        return text + " No profile recorded contention readings."
    loads = [c["load_1min"]["max"] for c in seen if isinstance(c.get("load_1min"), Mapping)]
    load = f"{max(loads):.2f}" if loads else MISSING
    return text + (
        f" Over {plural(len(seen), 'profile')}: {sum(c['blocks_remeasured'] for c in seen)} "
        f"blocks re-measured, {sum(c['blocks_kept_contended'] for c in seen)} kept contended "
        f"after their retries; highest 1-minute load {load} on {seen[0].get('cores')} CPUs; "
        f"profiles timed while the load exceeded the CPU count (flagged `load>cores`): "
        f"{sum(bool(c.get('loaded')) for c in seen)}."
    )


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9 +\-_.,:%/()$]", "", text)


def pipeline_mermaid(records: Records) -> str:
    """The pipeline as Mermaid source, annotated with this study's counts."""
    systems = len({r["system"] for r in records})
    datasets = len({dig(r, "dataset", "name") for r in records})
    order = {f: i for i, f in enumerate(FAMILY_ORDER)}
    ranked = sorted(records, key=lambda r: (order.get(r["family"], len(order)), r["method"]))
    methods = ", ".join(dict.fromkeys(str(r["method"]) for r in ranked))
    runtimes = ", ".join(
        dict.fromkeys(str(p.get("runtime")) for r in records for p in r.get("profiles") or ())
    )
    nodes = [
        ("data", f"Data: {plural(systems, 'system')}, {plural(datasets, 'dataset')}"),
        ("teacher", "Teacher: deployed model"),
        ("distill", f"Distill: {methods}"),
        ("evaluate", "Evaluate: quality, fidelity, CIs"),
        ("bench", f"Bench: {runtimes or 'no runtimes'}"),
        ("cost", "Cost model: $ per 1M predictions"),
        ("records", f"Records: {len(records)}"),
        ("report", "Report: md, html, csv, charts"),
    ]
    lines = ["flowchart LR"]
    for key, label in nodes:
        shape = f'[("{_label(label)}")]' if key == "records" else f'["{_label(label)}"]'
        lines.append(f"    {key}{shape}")
    lines += [f"    {a} --> {b}" for (a, _), (b, _) in itertools.pairwise(nodes)]
    return "\n".join(lines)


def pipeline_section(records: Records) -> str:
    """The Mermaid diagram of the pipeline that produced these records."""
    return (
        "## Pipeline\n\n"
        "data → teacher → distill → evaluate → bench → cost model → records → report "
        "(Mermaid source; GitHub and Mermaid-aware viewers draw it).\n\n"
        + code_block(pipeline_mermaid(records), "mermaid")
    )


def references_section(records: Records) -> str:
    """The paper, every method reference of the records, and the dataset citations."""
    refs = [PAPER_CITATION]
    refs += [str(ref) for r in records for ref in r.get("references") or ()]
    refs += [str(c) for r in records if (c := dig(r, "dataset", "citation"))]
    unique = list(dict.fromkeys(" ".join(ref.split()) for ref in refs if ref.strip()))
    return "## References\n\n" + "\n".join(f"{i}. {esc(ref)}" for i, ref in enumerate(unique, 1))
