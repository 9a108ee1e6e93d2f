"""LLM → smaller-LLM systems in a study: build, distil and score each grid cell's student.

A system with ``student.llm`` distils its LLM teacher (``teacher.llm``) into a smaller
causal LM made from it (:mod:`potstill.models.llm_students`: every k-th layer, or a
narrower width). Each grid cell is ``scratch`` (the student as built, untrained) or an LLM
loss of :mod:`potstill.train.llm` on the prompts of the first training rows. The
quality is the system's classification question asked of both models on the test texts:
the student's agreement with the teacher's answer (the metric; the teacher agrees with
itself, so retention is the agreement) and both models' accuracy against the labels.
Trained students are saved (``save_pretrained`` with the teacher's tokenizer, published
atomically with ``train.json``) and reloaded by a resumed study instead of retrained.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from potstill._io import atomic_folder, atomic_write_json
from potstill.config import GridEntry, SystemPlan
from potstill.errors import ModelError
from potstill.evaluate import get_metric
from potstill.evaluate.bootstrap import estimate, paired_bootstrap
from potstill.evaluate.verdict import PairedScores, paired_gain
from potstill.events import EventSink, stage
from potstill.models.llm import causal_lm_info, lm_config, load_causal_lm
from potstill.models.llm_label import LLMLabelBackend, label_probabilities, render_prompt
from potstill.models.llm_students import drop_layers, narrower
from potstill.models.student_spec import LLMStudentSpec
from potstill.models.teacher import Teacher
from potstill.study.error_info import error_info, failure_reason, log_failure
from potstill.train import LLMDistillConfig, TokenBatch, distill_causal_lm
from potstill.types import Quality, Task

__all__ = ["LLMCell", "llm_backend", "llm_quality", "train_llm_cells"]

log = logging.getLogger(__name__)

_TOKEN_LOSSES = ("forward_kl", "reverse_kl", "jsd")


@dataclass
class LLMCell:
    """One grid cell of a smaller-LLM system: its student, or why there is none."""

    entry: GridEntry
    status: str = "ok"
    reason: str = ""
    student: nn.Module | None = None
    error: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return "baseline" if self.entry.llm is None else "response"


def llm_backend(teacher: Teacher, system: str) -> LLMLabelBackend:
    """The LLM behind a ``teacher.llm`` teacher (its model, tokenizer and question)."""
    backend = teacher.engine
    if not isinstance(backend, LLMLabelBackend):
        raise ModelError(
            f"System '{system}': student.llm needs an LLM teacher (teacher.llm); got a "
            f"{teacher.backend} teacher."
        )
    return backend


def prompts_of(backend: LLMLabelBackend, texts: np.ndarray) -> list[str]:
    """The system's question about each text, as the teacher reads it."""
    return [render_prompt(backend.template, backend.tokenizer, str(t)) for t in texts]


def _corpus(backend: LLMLabelBackend, texts: np.ndarray) -> TokenBatch:
    """The training prompts, left-padded: the corpus (token losses) or the prompts
    (sequence KD, on-policy) of distillation."""
    tok = backend.tokenizer
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    enc = tok(prompts_of(backend, texts), return_tensors="pt", padding=True,
              add_special_tokens=False)  # fmt: skip
    return TokenBatch(enc["input_ids"], enc["attention_mask"])


def build_llm_student(model: nn.Module, spec: LLMStudentSpec) -> nn.Module:
    """The student as made from the teacher: layer-dropped or narrower."""
    if spec.keep_every is not None:
        return drop_layers(model, spec.keep_every)
    assert spec.width is not None  # LLMStudentSpec holds exactly one of the two
    return narrower(model, spec.width)


def _distil(
    teacher: nn.Module, student: nn.Module, entry: GridEntry, spec: LLMStudentSpec,
    corpus: TokenBatch, plan: SystemPlan,
) -> dict[str, Any]:  # fmt: skip
    """Train ``student`` in place with the cell's LLM loss; what training did."""
    loss, vocab = entry.llm, int(lm_config(teacher).vocab_size)
    mode = "token" if loss in _TOKEN_LOSSES else loss
    config = LLMDistillConfig(
        mode=mode, divergence=loss if loss in _TOKEN_LOSSES else "forward_kl",
        steps=spec.steps, batch_size=spec.batch_size, lr=spec.lr,
        top_k=None if spec.top_k is None else min(spec.top_k, vocab),
        max_new_tokens=spec.max_new_tokens, threads=plan.train.threads, seed=plan.seed,
    )  # fmt: skip
    data = {"corpus": corpus} if mode == "token" else {"prompts": corpus}
    start = time.perf_counter()
    result = distill_causal_lm(teacher, student, config, **data)  # type: ignore[arg-type]
    return {
        "loss": loss, "mode": mode, "steps": len(result.losses), "train_rows": len(corpus),
        "train_s": time.perf_counter() - start, "loss_first": result.losses[0],
        "loss_last": result.losses[-1], "on_policy_steps": result.on_policy_steps,
    }  # fmt: skip


def _save(student: nn.Module, tokenizer: Any, folder: Path, info: dict[str, Any]) -> None:
    def fill(tmp: Path) -> None:
        student.save_pretrained(tmp)  # type: ignore[operator]
        tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / "train.json", info)

    atomic_folder(folder, fill)


def _cell(
    entry: GridEntry, plan: SystemPlan, backend: LLMLabelBackend, corpus: TokenBatch,
    folder: Path,
) -> LLMCell:  # fmt: skip
    """One cell's student: reloaded when a finished one is saved, else built and trained."""
    spec = plan.spec.student.llm
    assert spec is not None  # only student.llm systems come here
    cell = LLMCell(entry)
    if (folder / "train.json").is_file():
        cell.student, _ = load_causal_lm(folder)
        cell.info = {**json.loads((folder / "train.json").read_text("utf-8")), "resumed": True}
        return cell
    student = build_llm_student(backend.model, spec)
    trained = None
    if entry.llm is not None:
        trained = _distil(backend.model, student, entry, spec, corpus, plan)
    cell.student, cell.info = student.eval(), {"shape": spec.describe(), "train": trained}
    _save(student, backend.tokenizer, folder, cell.info)
    return cell


def _outcome(cell: LLMCell) -> str:
    if cell.info.get("resumed"):
        return "trained student reloaded"
    trained = cell.info.get("train")
    if not trained:
        return "untrained (the student as built)"
    return (
        f"{trained['steps']} steps, loss {trained['loss_first']:.4g} -> {trained['loss_last']:.4g}"
    )


def train_llm_cells(
    plan: SystemPlan, task: Task, teacher: Teacher, out: Path, events: EventSink
) -> tuple[list[LLMCell], LLMLabelBackend]:
    """Every grid cell's student (a failing cell is recorded as failed, the others go on),
    each a ``train`` stage of ``events``."""
    backend = llm_backend(teacher, plan.name)
    spec = plan.spec.student.llm
    assert spec is not None  # only student.llm systems come here
    corpus = _corpus(backend, task.train.X[: spec.train_texts])
    cells = []
    for entry in plan.grid:
        folder = out / "students" / plan.name / entry.label
        try:
            with stage(events, plan.name, "train", entry.label) as st:
                cells.append(_cell(entry, plan, backend, corpus, folder))
                st.outcome = _outcome(cells[-1])
        except Exception as exc:  # one cell's failure never costs the others
            log_failure(f"{plan.name}/{entry.label}", exc)
            cells.append(LLMCell(entry, "failed", failure_reason(exc), error=error_info(exc)))
    return cells, backend


def llm_quality(
    plan: SystemPlan, task: Task, teacher_probs: np.ndarray, student_probs: np.ndarray
) -> Quality:
    """Agreement with the teacher's answer (the metric; retention = agreement) and both
    models' accuracy against the labels, with paired bootstrap intervals."""
    y = np.asarray(task.test.y)
    t_ans, s_ans = teacher_probs.argmax(1), student_probs.argmax(1)

    def stats(rows: np.ndarray) -> list[float]:
        return [float((s_ans[rows] == t_ans[rows]).mean()), float((t_ans[rows] == y[rows]).mean()),
                float((s_ans[rows] == y[rows]).mean())]  # fmt: skip

    ev = plan.evaluate
    samples = paired_bootstrap(stats, len(y), n_resamples=ev.n_resamples, seed=ev.seed)
    agree, t_acc, s_acc = stats(np.arange(len(y)))

    def est(value: float, column: np.ndarray | None) -> Any:
        return estimate(value, column, n=len(y), level=ev.level)

    column = samples[:, 0] if samples.size else None
    agreement = est(agree, column)
    return Quality(
        metric="agreement", higher_is_better=True, teacher=est(1.0, None), student=agreement,
        retention=agreement, difference=est(agree - 1.0, None if column is None else column - 1),
        n_test=len(y), secondary={"accuracy": {"teacher": t_acc, "student": s_acc}},
        fidelity={"agreement": agreement},
    )  # fmt: skip


def with_gain_over_scratch(
    plan: SystemPlan, qualities: dict[str, Quality], probs: dict[str, np.ndarray],
    teacher_probs: np.ndarray,
) -> dict[str, Quality]:  # fmt: skip
    """``quality.versus_scratch`` of every distilled student: the paired bootstrap of its
    agreement minus the untrained student's (accuracy against the teacher's answers)."""
    if "scratch" not in probs:
        return qualities
    answers, ev, out = teacher_probs.argmax(1), plan.evaluate, dict(qualities)
    for label, quality in qualities.items():
        if label == "scratch":
            continue
        pair = PairedScores(y=answers, scratch=probs["scratch"], distilled=probs[label])
        gain = paired_gain([pair], get_metric("accuracy"), n_resamples=ev.n_resamples,
                           seed=ev.seed, level=ev.level)  # fmt: skip
        out[label] = replace(quality, versus_scratch={**gain.to_record(), "metric": "agreement"})
    return out


def student_probs(backend: LLMLabelBackend, student: nn.Module, prompts: list[str]) -> np.ndarray:
    """The student's probabilities over the label words after each prompt."""
    return label_probabilities(student, backend.tokenizer, prompts, backend.ids,
                               backend.batch_size)  # fmt: skip


def student_summary(cell: LLMCell) -> dict[str, Any]:
    """The record's ``student`` entry: its architecture and how it was made and trained."""
    if cell.student is None:
        return {}
    info = causal_lm_info(cell.student)
    return {"params": info["params"], "arch": info, **cell.info}
