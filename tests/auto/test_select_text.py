"""``potstill select`` on a transformer teacher: the space draws the layers the student
keeps and its width (not MLP width/depth), the builder accepts every drawn size, and a
tiny text system is searched end to end into an ``auto`` record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

transformers = pytest.importorskip("transformers")
optuna = pytest.importorskip("optuna")

from potstill.auto import SearchSpace  # noqa: E402
from potstill.auto.sources import fleet_for  # noqa: E402
from potstill.auto.space import SCRATCH, candidate_from, default_candidate  # noqa: E402
from potstill.cli import main  # noqa: E402
from potstill.config import SystemSpec  # noqa: E402
from potstill.data.text import encode_texts  # noqa: E402
from potstill.errors import ConfigError  # noqa: E402
from potstill.models import HFClassifier, StudentSpec, build_student  # noqa: E402
from potstill.models.hf.io import save_pretrained  # noqa: E402
from potstill.models.sizing import TeacherSize  # noqa: E402
from potstill.report.selection import student_size  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip
SPACE = SearchSpace(("kd", SCRATCH), ("eager", "onnx"), (1,), teacher_layers=4,
                    transformer_widths=(0.25, 0.5, 1.0))  # fmt: skip


def tiny_teacher(num_labels: int = 2) -> HFClassifier:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    return HFClassifier(transformers.AutoModel.from_config(config), num_labels=num_labels,
                        tokenizer=tokenizer, max_length=8).eval()  # fmt: skip


def test_a_transformer_space_draws_layers_and_width_the_builder_accepts() -> None:
    teacher, base = tiny_teacher(), StudentSpec(width=1.0, layers=3)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    drawn = set()
    for _ in range(12):
        trial = study.ask()
        cand = SPACE.suggest(trial)
        study.tell(trial, (0.0, 0.0))
        assert "depth" not in trial.params and {"layers", "width"} <= set(trial.params)
        assert candidate_from(cand.params()) == cand  # resume and the final choice
        student = build_student(teacher, cand.student(base))
        assert isinstance(student, HFClassifier)
        assert student.n_layers == cand.layers < 4  # never the teacher's full depth
        heads = max(1, round(cand.width * 4))  # width scales the heads (of 4 units each)
        assert student.hidden_size == 4 * heads
        drawn.add((cand.layers, cand.width))
    assert len({layers for layers, _ in drawn}) > 1 and len({w for _, w in drawn}) > 1
    assert student_size({"layers": 2, "width": 0.5}) == "L2 w0.5"


def test_the_default_transformer_candidate_keeps_the_systems_layers() -> None:
    spec = SystemSpec.model_validate(
        {"name": "t", "dataset": {"builtin": "drug_review"}, "teacher": {"arch": "minilm"},
         "student": {"width": 1.0, "layers": 3}}
    )  # fmt: skip
    cand = default_candidate(spec, SPACE, TeacherSize(1000, "parameters", "test"), 1e-4, ["kd"])
    assert cand is not None and cand.layers == 3 and cand.width == 1.0 and cand.depth is None
    sized = cand.student(spec.student)
    assert sized.layers == 3 and sized.init == "auto" and sized.hidden is None


def _fitted(teacher: HFClassifier, texts: list[str], labels: list[str]) -> HFClassifier:
    """A few full-batch steps, so the teacher is better than a trivial predictor."""
    X = torch.from_numpy(encode_texts(np.array(texts, dtype=object), teacher.tokenizer, 8))
    y = torch.tensor([label == "positive" for label in labels], dtype=torch.long)
    optimiser = torch.optim.Adam(teacher.parameters(), lr=0.01)
    teacher.train()
    for _ in range(40):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(teacher(X), y).backward()
        optimiser.step()
    return teacher.eval()


def _tiny_text_system(root: Path) -> Path:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[5:], size=rng.integers(1, 6))) for _ in range(160)]
    labels = ["positive" if ("good" in t or "great" in t) else "negative" for t in texts]
    teacher = _fitted(tiny_teacher(), texts, labels)
    save_pretrained(teacher, root / "teacher", tokenizer=teacher.tokenizer)
    pd.DataFrame({"review": texts, "label": labels}).to_csv(root / "reviews.csv", index=False)
    fleet = {
        "name": "tiny-text", "seed": 0, "grid": ["kd"],
        "train": {"epochs": 2, "batch_size": 32, "lr": 0.003, "patience": 2},
        "bench": {"batch_sizes": [1, 16], "runtimes": ["eager"], "memory": False},
        "evaluate": {"n_resamples": 50, "severities": [1.0]},
        "gates": {"min_retention": 0.5},
        "systems": [{
            "name": "reviews",
            "dataset": {"path": str(root / "reviews.csv"), "target": "label",
                        "text_column": "review"},
            "teacher": {"path": str(root / "teacher")},
            "student": {"width": 1.0, "layers": 2},
        }],
    }  # fmt: skip
    path = root / "fleet.yaml"
    path.write_text(json.dumps(fleet))  # JSON is YAML
    return path


@pytest.mark.slow  # a search, its re-measurement and the study of its choice
def test_select_searches_a_text_system_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POTSTILL_CACHE", str(tmp_path / "cache"))
    fleet, out = _tiny_text_system(tmp_path), tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["select", str(fleet), "--quick", "--trials", "3", "--out", str(out)])
    assert info.value.code in (0, 1, None)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (row,) = summary["systems"]
    assert row["trials"] == 3 and "layers" in row["choice"] and "depth" not in row["choice"]
    record = json.loads((out / "records" / "reviews__auto.json").read_text())
    assert record["method"] == "auto" and record["status"] == "ok", record.get("reason")
    search = record["student"]["search"]
    default = next(t for t in search["trials"] if t["default"])
    assert default["params"]["layers"] == 2 and default["params"]["width"] == 1.0
    for trial in search["trials"]:  # each trial's student had the layers it drew
        assert 1 <= trial["params"]["layers"] <= 4
    assert record["student"]["params"] < record["teacher"]["params"] or (
        search["trials"][search["choice"]]["params"]["layers"] == 4
    )
    report = (out / "report.md").read_text()
    choice = search["trials"][search["choice"]]["params"]
    assert f"| reviews | 3 | {student_size(choice)} " in report


def test_builtin_finds_the_text_systems_with_their_own_settings() -> None:
    fleet = fleet_for(builtin="drug_review", quick=True)
    (system,) = fleet.systems
    assert system.teacher.arch == "minilm" and system.student.layers == 3
    with pytest.raises(ConfigError, match="drug_review"):  # listed among the valid names
        fleet_for(builtin="no_such_system")
