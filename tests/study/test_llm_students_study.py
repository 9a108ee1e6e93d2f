"""`potstill study` on an LLM → smaller-LLM system: a tiny random Llama teacher, a
layer-dropped student trained by a token loss and by sequence KD, scored on the system's
question and timed per token. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

transformers = pytest.importorskip("transformers")

from potstill.api import config_help  # noqa: E402
from potstill.cli import main  # noqa: E402
from potstill.config import FleetConfig  # noqa: E402
from potstill.models.llm_label import LLMLabelBackend, PromptTemplate  # noqa: E402
from potstill.models.student_spec import LLMStudentSpec  # noqa: E402
from potstill.report import render_report  # noqa: E402
from potstill.study.llm_summary import summary_scores  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip
PROMPT = "it was {text} the"
LLM = {"keep_every": 2, "steps": 2, "batch_size": 4, "train_texts": 8, "max_new_tokens": 3,
       "bench_new_tokens": 3, "bench_prompts": 2, "bench_generations": 2, "summary_texts": 3,
       "summary_new_tokens": 4, "summary_prompt": "the {text} drug"}  # fmt: skip


def _llama(root: Path) -> Path:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=True, pad_token_id=0, eos_token_id=3,
    )  # fmt: skip
    transformers.LlamaForCausalLM(config).save_pretrained(root / "llm")
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    tokenizer.save_pretrained(root / "llm")
    return root / "llm"


def _fleet(root: Path, system: dict[str, Any], grid: list[str]) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[5:], size=rng.integers(1, 6))) for _ in range(60)]
    labels = ["good" if ("good" in t or "great" in t) else "bad" for t in texts]
    pd.DataFrame({"review": texts, "label": labels}).to_csv(root / "reviews.csv", index=False)
    base = {"name": "reviews", "sector": "healthcare",
            "dataset": {"path": str(root / "reviews.csv"), "target": "label",
                        "text_column": "review"},
            "teacher": {"llm": {"path": str(root / "llm"), "prompt": PROMPT,
                                "labels": ["good", "bad"]}},
            "student": {"llm": LLM}}  # fmt: skip
    return {
        "name": "llm-students", "seed": 0, "grid": grid, "train": {"threads": 1},
        "bench": {"min_seconds": 0.0, "max_seconds": 1.0, "threads": 1},
        "evaluate": {"n_resamples": 20, "robustness": False},
        "gates": {"min_retention": 0.5}, "systems": [{**base, **system}],
    }  # fmt: skip


def _study(root: Path, fleet: dict[str, Any]) -> int | None:
    (root / "fleet.yaml").write_text(yaml.safe_dump(fleet), encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["study", str(root / "fleet.yaml"), "--out", str(root / "out")])
    return info.value.code  # type: ignore[return-value]


def _records(root: Path) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in (root / "out/records").glob("*.json")}


def test_study_distils_an_llm_into_a_smaller_llm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POTSTILL_CACHE", str(tmp_path / "cache"))
    _llama(tmp_path)
    fleet = _fleet(tmp_path, {}, ["scratch", "forward_kl", "sequence"])
    assert _study(tmp_path, fleet) in (0, None)
    records = _records(tmp_path)
    assert set(records) == {"reviews__scratch", "reviews__forward_kl", "reviews__sequence"}
    for label, record in records.items():
        assert record["status"] == "ok", record.get("reason")
        assert record["student"]["arch"]["layers"] == 2  # every 2nd of the teacher's 4
        assert record["teacher"]["llm"]["layers"] == 4
        quality = record["quality"]
        assert quality["metric"] == "agreement" and quality["n_test"] > 0
        assert 0 <= quality["student"]["value"] <= 1
        assert set(quality["secondary"]["accuracy"]) == {"teacher", "student"}
        summary = quality["secondary"]["summary_vs_teacher"]
        assert summary["texts"] == 3 and summary["max_new_tokens"] == 4
        assert 0 <= summary["rouge_l_f"] <= 1 and 0 <= summary["token_agreement"] <= 1
        costs = record["costs"]
        tokens = costs["extra"]["tokens"]
        assert tokens["teacher"]["name"] == "teacher" and tokens["student"]["name"] in label
        ratio = tokens["teacher"]["decode_tokens_per_s"] / tokens["student"]["decode_tokens_per_s"]
        assert costs["reduction"] == pytest.approx(1 - ratio)
        assert costs["usd_per_million"] > 0 and costs["teacher_usd_per_million"] > 0
        assert tokens["student"]["kv_cache_bytes_per_token"] == pytest.approx(
            tokens["teacher"]["kv_cache_bytes_per_token"] / 2
        )  # half the layers hold half the KV cache
    trained = records["reviews__sequence"]["student"]["train"]
    assert trained["mode"] == "sequence" and trained["steps"] == 2
    assert records["reviews__forward_kl"]["student"]["train"]["mode"] == "token"
    assert records["reviews__scratch"]["student"]["train"] is None
    assert (
        records["reviews__scratch"]["student"]["shape"]
        == "1 in 2 of the teacher's layers (the last kept)"
    )
    assert records["reviews__scratch"]["quality"]["versus_scratch"] is None
    gain = records["reviews__sequence"]["quality"]["versus_scratch"]
    assert gain["metric"] == "agreement" and gain["n_test"] == quality["n_test"]
    saved = tmp_path / "out/students/reviews/forward_kl"
    assert (saved / "config.json").is_file() and (saved / "train.json").is_file()
    paths = render_report(tmp_path / "out")
    report = paths.markdown.read_text(encoding="utf-8")
    assert "## Smaller LLM students (per token)" in report
    assert "| reviews | sequence | 4 → 2 |" in report

    # a rerun resumes: the finished system is skipped, its records untouched
    before = {k: r["created_at"] for k, r in records.items()}
    assert _study(tmp_path, fleet) in (0, None)
    assert {k: r["created_at"] for k, r in _records(tmp_path).items()} == before


@pytest.mark.parametrize(
    ("system", "grid", "message"),
    [
        ({"teacher": {}}, ["scratch"], "the teacher is not an LLM"),
        ({}, ["scratch", "kd"], "grid cells ['kd'] do not fit"),
        ({"student": {"llm": {"keep_every": 2, "width": 0.5}}}, ["scratch"], "exactly one"),
        ({"transfer": {"kind": "noise"}}, ["scratch"], "does not use ['transfer']"),
        ({"auto": {}}, ["scratch"], "does not use ['auto']"),
    ],
)
def test_bad_llm_student_config_is_refused(
    tmp_path: Path, system: dict[str, Any], grid: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert _study(tmp_path, _fleet(tmp_path, system, grid)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_llm_losses_are_refused_on_a_classifier_student(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, {"student": {}}, ["scratch", "jsd"])
    with pytest.raises(ValueError, match=r"grid cells \['jsd'\] do not fit"):
        FleetConfig.model_validate(fleet)


def test_config_help_lists_the_llm_fields() -> None:
    table = config_help()
    helps = dict(zip(table.columns[0]._cells, table.columns[3]._cells, strict=True))
    keep_every = LLMStudentSpec.model_fields["keep_every"].description
    assert helps["systems[].student.llm.keep_every"] == keep_every
    assert "systems[].teacher.llm.prompt" in helps


def test_a_student_identical_to_its_teacher_summarises_as_it_does(tmp_path: Path) -> None:
    """The summary scores against an independent expectation: the teacher's own copy agrees
    on every token; a student with other weights does not agree fully."""
    pytest.importorskip("rouge_score")
    folder = _llama(tmp_path)
    model = transformers.LlamaForCausalLM.from_pretrained(folder).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    backend = LLMLabelBackend(
        model, tok, PromptTemplate(template=PROMPT, label_words=("good", "bad"))
    )
    spec = LLMStudentSpec(**{**LLM, "summary_new_tokens": 6})
    untied = {**model.config.to_dict(), "tie_word_embeddings": False}
    other = transformers.LlamaForCausalLM(type(model.config)(**untied))
    torch.manual_seed(1)
    torch.nn.init.normal_(other.lm_head.weight, std=1.0)  # its own output head
    texts = np.array(["good drug", "awful pain", "great"], dtype=object)
    scores = summary_scores(spec, backend, texts, {"copy": model, "other": other.eval()})
    assert scores["copy"]["token_agreement"] == 1.0
    assert scores["copy"]["texts"] == 3
    assert scores["other"]["token_agreement"] < 1.0


def test_a_summary_prompt_without_its_text_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        LLMStudentSpec(keep_every=2, summary_prompt="Summarise.")
