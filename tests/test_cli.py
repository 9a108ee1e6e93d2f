"""The CLI: thin commands, clean errors (message, exit code 2, no traceback), nothing lost."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from potstill import api
from potstill.cli import main
from potstill.distill_fleet import DistillOptions


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize(
    ("args", "content", "expected"),
    [
        (["study", "{missing}"], None, "Fleet file not found"),
        (
            ["study", "{fleet}"],
            "systems:\n  - name: a\n    dataset: {builtin: x}\n    oops: 1\n",
            "unknown key",
        ),
        (["study", "{fleet}"], "systems: [\n", "malformed YAML at line"),
        (
            ["study", "{fleet}"],
            "systems:\n  - name: a\n    dataset: {builtin: no_such_set}\n",
            "no_such_set",
        ),
        (["report", "{dir}"], None, "does not exist"),
        (["check", "{dir}"], None, "does not exist"),
        (["prices", "--override", "{missing}"], None, "missing"),
    ],
)
def test_bad_input_exits_2_without_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    content: str | None,
    expected: str,
) -> None:
    fleet = tmp_path / "fleet.yaml"
    if content is not None:
        fleet.write_text(content)
    subst = {
        "{missing}": str(tmp_path / "missing.yaml"),
        "{fleet}": str(fleet),
        "{dir}": str(tmp_path / "empty"),
    }
    argv = [subst.get(a, a) for a in args] + (
        ["--out", str(tmp_path / "out")] if args[0] == "study" else []
    )
    code, _, err = _run(capsys, *argv)
    assert code == 2, err
    assert expected in err
    assert "Traceback" not in err


def test_unknown_builtin_dataset_lists_valid_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("systems:\n  - name: a\n    dataset: {builtin: no_such_set}\n")
    code, _, err = _run(capsys, "study", str(fleet), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "breast_cancer" in err  # the valid names are listed


def test_changed_config_sets_existing_results_aside_never_deletes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "records").mkdir(parents=True)
    (out / "config.yaml").write_text("name: old\nseed: 0\nsystems: [{name: a}]\n")
    old = '{"system": "a", "method": "kd", "system_hash": "0123456789abcdef"}'
    (out / "records" / "a__kd.json").write_text(old)
    teacher = tmp_path / "broken.onnx"
    teacher.write_bytes(b"not an onnx graph")  # the rerun fails fast, at the teacher
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "grid: [kd]\nsystems:\n  - name: a\n    dataset: {builtin: breast_cancer}\n"
        f"    teacher: {{path: {teacher}}}\n"
    )
    code, _, err = _run(capsys, "study", str(fleet), "--out", str(out))
    assert code == 2 and "Traceback" not in err  # one system: bad input is refused
    (moved,) = out.glob("superseded/*/records/a__kd.json")
    assert moved.read_text() == old  # set aside, byte for byte
    assert not (out / "records" / "a__kd.json").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["methods"], "kd"),
        (["datasets"], "credit_scoring"),
        (["config-help"], "epochs"),
        (["prices"], "aws"),
    ],
)
def test_listing_commands(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out, _ = _run(capsys, *args)
    assert code == 0
    assert expected in out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "study")
    assert code == 2
    assert "Missing argument" in err


def test_bench_prints_a_table_then_one_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import torch

    from potstill.models import MLP
    from potstill.models.export import save_model

    torch.manual_seed(0)
    save_model(MLP(8, [16], 2), tmp_path / "student")
    code, out, err = _run(capsys, "bench", str(tmp_path / "student"), "--quick")
    assert code == 0, err
    last = json.loads(out.strip().splitlines()[-1])
    text = json.dumps(last)
    assert "eager" in text and "p50" in text


def test_bench_refuses_a_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "bench", str(tmp_path / "nope"))
    assert code == 2 and "Traceback" not in err


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    assert "Exit codes: 0 ok; 1 a deployment gate failed; 2 bad input" in text
    assert "3 some runs failed" in text


def test_check_strict_fails_a_gate_that_was_not_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quality = {
        "metric": "accuracy", "higher_is_better": True, "n_test": 100,
        **{k: {"value": v} for k, v in
           (("teacher", 0.9), ("student", 0.9), ("retention", 1.0), ("difference", 0.0))},
    }  # fmt: skip
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "a__kd.json").write_text(
        '{"schema_version": 1, "system": "a", "method": "kd", "family": "response", '
        f'"status": "ok", "quality": {json.dumps(quality)}}}'
    )
    args = ("check", str(tmp_path), "--min-retention", "0.9", "--max-ece", "0.05")
    code, out, _ = _run(capsys, *args)
    (row,) = [line for line in out.splitlines() if line.startswith("a ") and "max_ece" in line]
    assert code == 0 and "NOT MEASURED" in row and "PASS" not in row
    code, out, _ = _run(capsys, *args, "--strict")
    assert code == 1 and "gates.strict is on" in out and "FAILED" in out


def test_distill_passes_allow_larger_and_problem_with_help_from_the_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import typer.main

    from potstill.cli import app
    from potstill.config import DatasetSpec
    from potstill.models.students import StudentSpec

    seen: list[Any] = []

    def fake_distill(options: Any, **kwargs: Any) -> Any:
        seen.append(options)
        raise SystemExit(0)

    monkeypatch.setattr(api, "distill_with", fake_distill)
    code, _, _ = _run(
        capsys, "distill", "--teacher", "t.onnx", "--data", "d.csv", "--out", str(tmp_path),
        "--allow-larger", "--problem", "regression",
    )  # fmt: skip
    (options,) = seen
    assert code == 0 and options.allow_larger is True and options.problem == "regression"
    command = typer.main.get_command(app).commands["distill"]  # type: ignore[attr-defined]
    helps = {p.name: p.help for p in command.params}
    assert helps["allow_larger"] == StudentSpec.model_fields["allow_larger"].description
    assert helps["problem"] == DatasetSpec.model_fields["problem"].description


def test_distill_keywords_are_the_options_fields_with_the_same_defaults() -> None:
    """``api.distill`` keeps its keyword signature for library users and hands every
    keyword (but ``on_event`` and ``progress``) to one ``DistillOptions``: no drift."""
    params = inspect.signature(api.distill).parameters
    keywords = {n: p.default for n, p in params.items() if n not in {"on_event", "progress"}}
    fields = {
        f.name: inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        for f in dataclasses.fields(DistillOptions)
    }
    assert keywords == fields
