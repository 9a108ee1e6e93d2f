"""LLM → classifier systems in a study: the student's encoder, its tokenisation, the binding.

An LLM teacher (``teacher.llm``) reads raw texts; the student is a potstill text classifier
made from a Hugging Face encoder (``teacher.llm.student_base``, default the built-in
all-MiniLM-L6-v2) and tokenised with that encoder's own tokenizer. The LLM teacher is told
which text each encoded row is (:func:`~potstill.zoo.llm.bind_task`), so training, its
teacher-output cache and the teacher's timed requests all go through the LLM on the real
prompt, while quality is measured on the raw strings like any text system.
"""

from __future__ import annotations

from typing import Any

from potstill.config import SystemSpec
from potstill.models.hf.io import load_pretrained
from potstill.models.hf.model import HFClassifier
from potstill.models.teacher import Teacher
from potstill.models.text_length import minilm_length
from potstill.study.tasks import encode_for_teacher
from potstill.types import Task
from potstill.zoo.llm import bind_task
from potstill.zoo.text import minilm_path

__all__ = ["encode_for_llm", "is_llm_teacher", "student_template"]


def is_llm_teacher(teacher: Teacher) -> bool:
    return teacher.backend == "llm"


def _student_base(spec: SystemSpec, task: Task) -> tuple[HFClassifier, str]:
    """The encoder the student is made from, with a fresh head of the task's classes."""
    llm = spec.teacher.llm
    folder = llm.student_base if llm is not None and llm.student_base else None
    length = spec.teacher.max_length
    model = load_pretrained(
        folder or minilm_path(),
        num_labels=task.n_outputs,
        problem=task.problem,
        max_length=length if folder is not None else minilm_length(length),
        normalize=False,
    )
    return model, str(folder) if folder is not None else "all-MiniLM-L6-v2 (built-in)"


def encode_for_llm(
    spec: SystemSpec, task: Task, teacher: Teacher
) -> tuple[Task, HFClassifier, dict[str, Any]]:
    """(the task tokenised by the student's encoder, that encoder, the record's entries);
    the LLM teacher is bound to the encoded rows."""
    base, source = _student_base(spec, task)
    encoded, info = encode_for_teacher(spec, task, base)
    bind_task(teacher, task, encoded)
    return encoded, base, {**info, "student_base": source}


def student_template(teacher: Teacher, text_model: Any) -> Teacher:
    """What students are sized from: the teacher itself, or for an LLM teacher the
    student's encoder (its size is still compared with the LLM's)."""
    if not is_llm_teacher(teacher) or text_model is None:
        return teacher
    return Teacher.from_torch(text_model, problem="classification", name="student-base")
