"""A corpus of hostile and messy inputs: each → the exit code and a phrase of the message.

Every case runs the real CLI in this process. A refusal must exit with the documented code
(2 bad input), print a message naming the cause, and never a traceback. Cases are grouped
by the class of fault they probe; ``CORPUS_CLASSES`` counts them for the closing note.
"""

from __future__ import annotations

import json
import socket
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from potstill.cli import main
from potstill.models import MLP, save_model

Setup = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # security | silent | traceback | message
    setup: Setup
    code: int
    phrase: str
    absent: str = "\x00"  # a phrase the output must not hold


def _fleet(tmp: Path, body: str, name: str = "fleet.yaml") -> Path:
    path = tmp / name
    path.write_text(body)
    return path


def _onnx_file(tmp: Path) -> Path:
    """A tiny valid ONNX model (Gemm 4 → 2) written with the onnx helper API."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], np.ones(8, np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp / "model.onnx"
    onnx.save(model, str(path))
    return path


SYSTEM = "systems: [{name: bc, dataset: {builtin: breast_cancer}}]\n"


def _label_case(label: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        body = SYSTEM + f"grid: [{{label: {label!r}, methods: [{{name: kd}}]}}]\n"
        return ["study", str(_fleet(tmp, body)), "--out", str(tmp / "out")]

    return setup


def _out_is_file(tmp: Path) -> list[str]:
    (tmp / "out").write_text("not a folder")
    return ["study", str(_fleet(tmp, SYSTEM)), "--out", str(tmp / "out")]


def _out_is_user_folder(tmp: Path) -> list[str]:
    (tmp / "out").mkdir()
    (tmp / "out" / "report.md").write_text("mine")
    return ["study", str(_fleet(tmp, SYSTEM)), "--out", str(tmp / "out")]


def _truncated_onnx(tmp: Path) -> list[str]:
    data = _onnx_file(tmp).read_bytes()
    (tmp / "cut.onnx").write_bytes(data[: len(data) // 2])
    return ["bench", str(tmp / "cut.onnx"), "--quick"]


def _bench_zero_threads(tmp: Path) -> list[str]:
    return ["bench", str(_onnx_file(tmp)), "--quick", "--threads", "0"]


def _bench_huge_shape(tmp: Path) -> list[str]:
    return ["bench", str(_onnx_file(tmp)), "--quick", "--input-shape", "100000,100000,1000"]


def _bench_random_pt(tmp: Path) -> list[str]:
    (tmp / "random.pt").write_bytes(np.random.default_rng(0).bytes(512))
    return ["bench", str(tmp / "random.pt"), "--quick"]


def _csv_case(text: str, extra: str = "") -> Setup:
    """A user fleet of one system on a CSV written from ``text`` (target column 'y')."""

    def setup(tmp: Path) -> list[str]:
        (tmp / "data.csv").write_text(text)
        body = f"systems: [{{name: s, dataset: {{path: data.csv, target: y{extra}}}}}]\n"
        return ["study", str(_fleet(tmp, body)), "--out", str(tmp / "out")]

    return setup


def _rows(n: int, row: Callable[[int], str], header: str = "a,b,y") -> str:
    return header + "\n" + "\n".join(row(i) for i in range(n)) + "\n"


_NOISY = np.random.default_rng(0).normal(size=200).round(4)
CASES = [
    Case("label-parent-dirs", "security", _label_case("../../../x"), 2, "grid[0].label"),
    Case("label-absolute", "security", _label_case("/tmp/x"), 2, "grid[0].label"),
    Case("label-hidden", "security", _label_case(".x"), 2, "grid[0].label"),
    Case("out-user-folder", "silent", _out_is_user_folder, 2, "Give a new folder", "delete"),
    Case("out-is-file", "traceback", _out_is_file, 2, "is a file"),
    Case("bench-truncated-onnx", "traceback", _truncated_onnx, 2, "cannot be read as an ONNX"),
    Case("bench-threads-0", "traceback", _bench_zero_threads, 2, "greater than or equal to 1"),
    Case("bench-huge-shape", "traceback", _bench_huge_shape, 2, "GiB (float32)"),
    Case("bench-random-pt", "traceback", _bench_random_pt, 2, "Cannot benchmark"),
]
CASES += [
    Case(
        "csv-semicolons",
        "message",
        _csv_case(_rows(40, lambda i: f"{i};{i % 3};{i % 2}", "a;b;y")),
        2,
        "separates its columns with ';'",
    ),
    Case("csv-one-row", "message", _csv_case("a,b,y\n1,2,0\n"), 2, "has 1 row(s) with a target"),
    Case(
        "csv-repeated-target",
        "silent",
        _csv_case(_rows(40, lambda i: f"{i % 5},{_NOISY[i]},{i % 2},{i % 2}", "a,b,y,y")),
        2,
        "more than once",
    ),
    Case(
        "csv-leaking-feature",
        "silent",
        _csv_case(_rows(40, lambda i: f"{_NOISY[i]},{'AB'[i % 2]},{i % 2}")),
        2,
        "under another name",
    ),
    Case(
        "csv-1e308",
        "message",
        _csv_case(_rows(40, lambda i: f"{'1e308' if i == 3 else i},{_NOISY[i]},{i % 2}")),
        2,
        "line 5 of",
    ),
    Case(
        "csv-continuous-as-classes",
        "message",
        _csv_case(_rows(60, lambda i: f"{i},{i % 3},{_NOISY[i]}"), ", problem: classification"),
        2,
        "it is continuous",
    ),
    Case(
        "csv-sensitive-is-target",
        "silent",
        _csv_case(_rows(40, lambda i: f"{_NOISY[i]},{_NOISY[i + 40]},{i % 2}"), ", sensitive: y"),
        2,
        "is the target column",
    ),
    Case(
        "fleet-huge-seed",
        "message",
        lambda tmp: [
            "study",
            str(_fleet(tmp, "seed: 99999999999999\n" + SYSTEM)),
            "--out",
            str(tmp / "out"),
        ],
        2,
        "seed: Input should be less than",
    ),
]
CASES.append(
    Case(
        "student-hidden-huge",
        "traceback",
        lambda tmp: [
            "study",
            str(
                _fleet(
                    tmp,
                    "systems: [{name: bc, dataset: {builtin: "
                    "breast_cancer}, student: {hidden: [100000, 100000]}}]\ngrid: [scratch]\n"
                    "train: {epochs: 1}\n",
                )
            ),
            "--out",
            str(tmp / "out"),
            "--log-format",
            "plain",
        ],
        2,
        "GiB to train",
    )
)


def _foreign_record(tmp: Path) -> list[str]:
    (tmp / "study" / "records").mkdir(parents=True)
    (tmp / "study" / "config.yaml").write_text(SYSTEM)
    (tmp / "study" / "records" / "x.json").write_text("{}")
    return ["report", str(tmp / "study")]


CASES.append(
    Case("record-empty-object", "message", _foreign_record, 2, "not a potstill run record")
)


def _check_empty_folder(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["check", str(tmp / "empty"), "--min-retention", "0.9"]


CASES.append(
    Case("check-empty-folder", "message", _check_empty_folder, 2, "holds no potstill study")
)


def _distill_case(teacher: Callable[[Path], Path]) -> Setup:
    """`potstill distill` of a teacher file on a 5-column CSV (target y)."""

    def setup(tmp: Path) -> list[str]:
        rng = np.random.default_rng(0)
        rows = [",".join(f"{v:.3f}" for v in rng.normal(size=5)) + f",{i % 2}" for i in range(60)]
        (tmp / "five.csv").write_text("a,b,c,d,e,y\n" + "\n".join(rows) + "\n")
        return ["distill", "--teacher", str(teacher(tmp)), "--data", str(tmp / "five.csv"),
                "--target", "y", "--out", str(tmp / "out"), "--quick", "--log-format", "plain"]  # fmt: skip

    return setup


def _random_pt(tmp: Path) -> Path:
    (tmp / "teacher.pt").write_bytes(np.random.default_rng(1).bytes(600))
    return tmp / "teacher.pt"


CASES += [
    Case("teacher-random-pt", "traceback", _distill_case(_random_pt), 2, "is not a PyTorch file"),
    Case(
        "teacher-input-width",
        "traceback",
        _distill_case(_onnx_file),
        2,
        "the teacher takes inputs of shape (4)",
    ),
]
CASES += [
    Case(
        "gates-max-ece",
        "message",
        lambda tmp: [
            "study",
            str(_fleet(tmp, SYSTEM + "gates: {max_ece: 7}\n")),
            "--out",
            str(tmp / "out"),
        ],
        2,
        "gates.max_ece: The 'max_ece' parameter of GatesConfig",
    ),
    Case(
        "evaluate-level",
        "message",
        lambda tmp: [
            "study",
            str(_fleet(tmp, SYSTEM + "evaluate: {level: 3}\n")),
            "--out",
            str(tmp / "out"),
        ],
        2,
        "evaluate.level: The 'level' parameter of EvalConfig",
    ),
]


def _system_named(name: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        body = f"systems: [{{name: {name!r}, dataset: {{builtin: breast_cancer}}}}]\n"
        return ["study", str(_fleet(tmp, body)), "--out", str(tmp / "out")]

    return setup


def _locked(tmp: Path) -> list[str]:
    """A study folder whose lock is held by a live process (pid 1) on this host."""
    (tmp / "out").mkdir()
    holder = {"pid": 1, "host": socket.gethostname()}
    (tmp / "out" / ".potstill.lock").write_text(json.dumps(holder))
    return ["study", str(_fleet(tmp, SYSTEM)), "--out", str(tmp / "out")]


def _only_scratch_measured(tmp: Path) -> list[str]:
    """A study whose distilled cell failed: its scratch baseline alone must not pass."""
    (tmp / "study" / "records").mkdir(parents=True)
    for method, family, status in (("scratch", "baseline", "ok"), ("kd", "response", "failed")):
        record = {"schema_version": 1, "system": "bc", "method": method, "family": family,
                  "status": status, "reason": "" if status == "ok" else "out of memory",
                  "quality": None}  # fmt: skip
        (tmp / "study" / "records" / f"bc__{method}.json").write_text(json.dumps(record))
    return ["check", str(tmp / "study"), "--min-retention", "0.9"]


def _torchscript_4(tmp: Path) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.", category=DeprecationWarning)
        module = torch.jit.trace(nn.Linear(4, 2).eval(), torch.zeros(2, 4))
    module.save(str(tmp / "teacher.pt"))
    return tmp / "teacher.pt"


def _model_folder_4(tmp: Path) -> Path:
    torch.manual_seed(0)
    save_model(MLP(4, [8], 2), tmp / "teacher")
    return tmp / "teacher"


HOT_KD = "grid: [{label: hot, methods: [{name: kd, params: {temperature: -1}}]}]\n"
CASES += [
    Case("system-name-parent-dirs", "security", _system_named("../x"), 2, "systems[0].name"),
    Case("system-name-absolute", "security", _system_named("/tmp/x"), 2, "systems[0].name"),
    Case(
        "method-param-out-of-range",
        "message",
        lambda tmp: ["study", str(_fleet(tmp, SYSTEM + HOT_KD)), "--out", str(tmp / "out")],
        2,
        "grid[0].methods[0]: The 'temperature' parameter of method 'kd' must be > 0",
    ),
    Case(
        "csv-only-identifier",
        "silent",
        _csv_case(_rows(40, lambda i: f"u{i:05d},{i % 2}", "id,y")),
        2,
        "No feature of",
    ),
    Case("out-locked", "silent", _locked, 2, "Another potstill run (pid 1"),
    Case(
        "out-cannot-create",
        "traceback",
        lambda tmp: ["study", str(_fleet(tmp, SYSTEM)), "--out", "/proc/potstill-study"],
        2,
        "Cannot create the study folder",
    ),
    Case("check-only-scratch", "silent", _only_scratch_measured, 1, "no distilled student"),
    Case(
        "teacher-input-width-torchscript",
        "traceback",
        _distill_case(_torchscript_4),
        2,
        "it expects rows of shape (4)",
    ),
    Case(
        "teacher-input-width-model-folder",
        "traceback",
        _distill_case(_model_folder_4),
        2,
        "it expects rows of shape (4)",
    ),
]
CORPUS_CLASSES = Counter(c.kind for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refusal(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = case.setup(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    said = " ".join((out + err).split())  # rich wraps long lines
    assert int(info.value.code or 0) == case.code, out + err
    assert case.phrase in said, out + err
    assert case.absent not in said, out + err
    assert "Traceback" not in out + err
