"""LLM → classifier: a causal language model answering a question, read as class scores.

A :class:`PromptTemplate` per system turns each row's text into a question (through the
tokenizer's chat template when it has one). The teacher's next-token distribution after
the prompt, restricted to the first token of each label word and renormalised, gives the
class probabilities: the soft targets a potstill text classifier is distilled on.

:class:`LLMLabelBackend` wraps this as a black-box :class:`~potstill.models.teacher.Teacher`
backend ("llm"): ``predict_scores`` takes raw strings; ``outputs`` takes rows a student's
tokenizer encoded, once :meth:`LLMLabelBackend.bind` said which text each encoded row is.
Every text's probabilities are computed once (memoised, and kept in ``cache_file`` when
given), so epochs and methods never call the LLM again.
"""

from __future__ import annotations

import io
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from potstill._io import atomic_write_bytes
from potstill.errors import ConfigError, DataError, ModelError
from potstill.models.backends import PROBA_EPS, TeacherBackend
from potstill.models.llm import causal_lm_info
from potstill.types import Outputs

__all__ = [
    "LLMLabelBackend",
    "PromptTemplate",
    "check_template",
    "label_probabilities",
    "label_token_ids",
    "render_prompt",
]


def check_template(value: str) -> str:
    """``value`` when it holds the field '{text}' exactly once and no other (ValueError)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"is not a valid format string ({exc}); got {value!r}") from exc
    if fields != ["text"]:
        raise ValueError(
            f"must hold the field '{{text}}' exactly once and no other field; got "
            f"fields {fields} in {value!r}. Write literal braces as '{{{{' and '}}}}'"
        )
    return value


class PromptTemplate(BaseModel):
    """How a row becomes a question for an LLM teacher, and which words answer it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field(
        description="The question, with '{text}' where the row's text goes (exactly once)."
    )
    label_words: tuple[str, ...] = Field(
        min_length=2,
        description="One answer word per class, in the task's class order; the first token "
        "of each must differ.",
    )
    system: str | None = Field(None, description="System message for a chat model.")
    chat: bool = Field(True, description="Use the tokenizer's chat template when it has one.")

    @field_validator("template")
    @classmethod
    def _one_text_field(cls, value: str) -> str:
        return check_template(value)


def render_prompt(template: PromptTemplate, tokenizer: Any, text: str) -> str:
    """The prompt string for one text (chat-formatted when the tokenizer has a template)."""
    question = template.template.format(text=text)
    if not template.chat or not getattr(tokenizer, "chat_template", None):
        return question
    messages = [{"role": "user", "content": question}]
    if template.system is not None:
        messages.insert(0, {"role": "system", "content": template.system})
    return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))


def label_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """The first token id of each label word; refused when two words share it."""
    ids = []
    for word in words:
        tokens = tokenizer(word, add_special_tokens=False)["input_ids"]
        if not tokens:
            raise ConfigError(f"The label word {word!r} encodes to no token. Use a real word.")
        ids.append(int(tokens[0]))
    if len(set(ids)) < len(ids):
        raise ConfigError(
            f"The label words {list(words)} start with the same token ({ids}), so the teacher "
            "cannot tell them apart. Choose words whose first tokens differ."
        )
    return ids


def label_probabilities(
    model: nn.Module,
    tokenizer: Any,
    prompts: Sequence[str],
    ids: Sequence[int],
    batch_size: int = 8,
) -> np.ndarray:
    """float64 (n, C): the next-token probabilities of ``ids`` after each prompt, renormalised
    over the label tokens (left-padded batches; no gradients)."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    parts = []
    index = torch.tensor(list(ids))
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(list(prompts[start : start + batch_size]), return_tensors="pt",
                              padding=True, add_special_tokens=False)  # fmt: skip
            logits = model(**batch).logits[:, -1, :].double()
            parts.append(torch.softmax(logits[:, index], dim=-1).numpy())
    return np.concatenate(parts)


def _row_key(row: np.ndarray) -> bytes:
    """An encoded row's identity, whatever integer or float dtype it travels in."""
    return np.asarray(row, dtype=np.int64).tobytes()


class LLMLabelBackend(TeacherBackend):
    """A causal LM answering a classification question, as a black-box teacher."""

    kind = "llm"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        template: PromptTemplate,
        *,
        cache_file: Path | None = None,
        batch_size: int = 8,
    ) -> None:
        super().__init__("classification")
        self.model, self.tokenizer, self.template = model.eval(), tokenizer, template
        self.ids = label_token_ids(tokenizer, template.label_words)
        self.batch_size, self.cache_file = batch_size, cache_file
        self.calls = 0  # texts the LLM was actually run on (memo misses)
        self._memo: dict[str, np.ndarray] = {}
        self._rows: dict[bytes, str] = {}
        if cache_file is not None and Path(cache_file).is_file():
            self._read_cache(Path(cache_file))

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"logits"})

    def architecture(self) -> dict[str, Any]:
        return {**causal_lm_info(self.model), "label_words": list(self.template.label_words)}

    def params(self) -> int | None:
        return sum(p.numel() for p in self.model.parameters())

    def class_labels(self) -> tuple[str, ...] | None:
        return self.template.label_words

    def bind(self, encoded: np.ndarray, texts: np.ndarray) -> None:
        """Say which text each encoded row is, so ``outputs`` can answer for those rows."""
        if len(encoded) != len(texts):
            raise DataError(f"bind got {len(encoded)} encoded rows for {len(texts)} texts.")
        for row, text in zip(np.asarray(encoded), texts, strict=True):
            self._rows[_row_key(row)] = str(text)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(n, C) label probabilities of ``texts``; each text runs through the LLM once."""
        todo = sorted({str(t) for t in texts} - self._memo.keys())
        if todo:
            prompts = [render_prompt(self.template, self.tokenizer, t) for t in todo]
            probs = label_probabilities(self.model, self.tokenizer, prompts, self.ids,
                                        self.batch_size)  # fmt: skip
            self._memo.update(zip(todo, probs, strict=True))
            self.calls += len(todo)
            if self.cache_file is not None:
                self._write_cache(Path(self.cache_file))
        return np.stack([self._memo[str(t)] for t in texts]).astype(np.float32)

    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        X = np.asarray(X)
        if len(X) == 0:
            raise DataError("predict_scores got an array with 0 rows; pass at least one row.")
        if X.dtype.kind in "OUS":
            return self.scores([str(t) for t in X])
        return self.scores(self._texts_of(X))

    def predict_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """One unmemoised scoring call (what serving a request costs) on raw texts, or on
        rows a student's tokenizer encoded (through :meth:`bind`)."""

        def predict(X: np.ndarray) -> np.ndarray:
            X = np.asarray(X)
            texts = [str(t) for t in X] if X.dtype.kind in "OUS" else self._texts_of(X)
            prompts = [render_prompt(self.template, self.tokenizer, t) for t in texts]
            return label_probabilities(
                self.model, self.tokenizer, prompts, self.ids, self.batch_size
            )

        return predict

    def outputs(self, x: torch.Tensor) -> Outputs:
        probs = self.scores(self._texts_of(x.cpu().numpy()))
        logits = np.log(np.clip(probs, PROBA_EPS, 1.0))
        return Outputs(logits=torch.from_numpy(logits).to(x.device))

    def _texts_of(self, rows: np.ndarray) -> list[str]:
        texts = []
        for i, row in enumerate(rows):
            text = self._rows.get(_row_key(row))
            if text is None:
                raise ModelError(
                    f"The LLM teacher got encoded row {i} that no bind() call named. Call "
                    "bind(encoded, texts) for every split the student is trained on, or pass "
                    "raw texts."
                )
            texts.append(text)
        return texts

    def _write_cache(self, path: Path) -> None:
        texts = np.asarray(list(self._memo), dtype=str)
        buffer = io.BytesIO()
        np.savez(buffer, texts=texts, probs=np.stack([self._memo[t] for t in texts]))
        atomic_write_bytes(path, buffer.getvalue())

    def _read_cache(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            texts, probs = data["texts"], data["probs"]
        if probs.ndim != 2 or probs.shape[1] != len(self.ids):
            raise ModelError(
                f"The label-score cache '{path}' holds {probs.shape} scores for "
                f"{len(self.ids)} label words. Delete it to score the texts again."
            )
        self._memo.update(zip(map(str, texts), probs, strict=True))
