"""Hugging Face transformers as potstill modules: one tensor in, logits out, layers by name.

Enterprise text models are fine-tuned transformers. The training loop, the bench harness
and the ONNX exporter of potstill are tensor-only, so text is tokenised once (see
:func:`potstill.data.text.encode_texts`) into an int64 array (n, 2, L) that stacks
``input_ids`` and ``attention_mask``, and :class:`HFClassifier` takes exactly that tensor.
Any dtype is accepted (the bench feeds float32 rows; token ids are exact in float32).

The wrapped backbone is a ``transformers`` encoder (``AutoModel``) with a potstill head
(mean or CLS pooling → dropout → linear), an ``AutoModelForSequenceClassification``, or a
sentence-embedding model without a head (``num_labels=0``: ``forward`` returns the pooled
embedding). Intermediate results are exposed to :class:`~potstill.models.hooks.FeatureTap`
through identity *tap* modules — ``hidden_taps.<i>`` (output of layer i), ``attention_taps.<i>``
(attention probabilities (N, heads, T, T)), ``value_taps.<i>`` (value vectors
(N, heads, T, d_head), MiniLM) and ``pool`` (the sentence embedding). The forward pass only
computes what a registered hook listens to: plain inference stays on the fast attention
kernel; attention maps switch the backbone to eager attention for that call.

``transformers`` is an optional extra; it is imported only when a model is built or loaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import torch
from torch import nn

from potstill._validation import check_choice, check_scalar
from potstill.errors import ConfigError, ModelError
from potstill.models.hf.utils import (
    config_from_dict,
    config_to_dict,
    find_layer_list,
    masked_mean,
    quiet_transformers,
    split_encoded,
    transformers_module,
)
from potstill.models.registry import register_architecture, spec_field
from potstill.types import Problem

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "HFClassifier",
    "Pooling",
    "find_layer_list",
    "masked_mean",
    "quiet_transformers",
    "split_encoded",
    "transformers_module",
]

Pooling = Literal["mean", "cls"]
#: Token length of raw texts when nobody says otherwise (capped by max_position_embeddings).
DEFAULT_MAX_LENGTH = 128
_KINDS = ("encoder", "sequence_classification")
_VALUE_NAMES = ("value", "v_lin", "v_proj")


class _Tap(nn.Identity):
    """An identity a FeatureTap hooks; the model computes its input only when listened to."""

    def listening(self) -> bool:
        return bool(self._forward_hooks) or bool(self._forward_pre_hooks)


def _taps(n: int) -> nn.ModuleList:
    return nn.ModuleList(_Tap() for _ in range(n))


def _checked_config(backbone: nn.Module) -> Any:
    """The wrapped model's transformers config; refused for anything else."""
    config = getattr(backbone, "config", None)
    if config is None or not callable(getattr(config, "to_json_string", None)):
        raise ModelError(
            "HFClassifier wraps a transformers PreTrainedModel (it needs its .config). "
            f"Got {type(backbone).__name__} instead."
        )
    return config


def _checked_max_length(config: Any, max_length: int | None) -> int:
    """``max_length`` (default 128), at most the model's ``max_position_embeddings``."""
    limit = getattr(config, "max_position_embeddings", None)
    le = limit if isinstance(limit, int) and limit > 0 else None
    if max_length is None:
        max_length = min(DEFAULT_MAX_LENGTH, le or DEFAULT_MAX_LENGTH)
    check_scalar(max_length, "max_length", owner="HFClassifier", ge=2, le=le, integer=True)
    return max_length


@register_architecture("HFClassifier")
class HFClassifier(nn.Module):
    """A transformers backbone behind potstill's module protocol.

    Parameters
    ----------
    backbone : transformers.PreTrainedModel
        An encoder (``AutoModel``) or an ``AutoModelForSequenceClassification`` model.
    num_labels : int, default 0
        Classes (or 1 for regression) of a new linear head on an encoder; 0 makes an
        embedding model whose forward returns the pooled embedding. Ignored (taken from the
        model) for sequence-classification backbones.
    problem : {"classification", "regression"} or None
        The task the head predicts; None for an embedding model.
    pooling : {"mean", "cls"}, default "mean"
        Sentence embedding: masked mean of the last hidden states, or the first token.
    normalize : bool, default False
        L2-normalise the embedding (sentence-transformers models such as MiniLM do).
    dropout : float, default 0.1
        Dropout before the linear head.
    tokenizer : transformers tokenizer, optional
        Kept beside the module (not in its weights) for raw-text prediction and saving.
    max_length : int, optional
        Token length texts are padded/truncated to: at most the model's
        ``max_position_embeddings``, which also caps the default of 128.
    """

    backbone: Any  # a transformers PreTrainedModel (typed loosely: transformers is optional)
    #: Where ``max_length`` came from, for the record; the loaders say precisely.
    max_length_source: str = "set when the model was built (max_length or the default)"

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_labels: int = 0,
        problem: Problem | None = "classification",
        pooling: Pooling = "mean",
        normalize: bool = False,
        dropout: float = 0.1,
        tokenizer: Any = None,
        max_length: int | None = None,
    ) -> None:
        super().__init__()
        config = _checked_config(backbone)
        check_choice(pooling, "pooling", owner="HFClassifier", choices=("mean", "cls"))
        check_scalar(dropout, "dropout", owner="HFClassifier", ge=0.0, lt=1.0)
        max_length = _checked_max_length(config, max_length)
        self.kind = (
            "sequence_classification"
            if type(backbone).__name__.endswith("ForSequenceClassification")
            else "encoder"
        )
        if self.kind == "sequence_classification":
            num_labels = int(config.num_labels)
            if problem is None:
                problem = "regression" if config.problem_type == "regression" else "classification"
        check_scalar(num_labels, "num_labels", owner="HFClassifier", ge=0, integer=True)
        if num_labels > 0:
            check_choice(
                problem, "problem", owner="HFClassifier", choices=("classification", "regression")
            )
        self.backbone = backbone
        self.num_labels = int(num_labels)
        self.problem: Problem | None = problem if num_labels > 0 else None
        self.pooling: Pooling = pooling
        self.normalize = bool(normalize)
        self.dropout_p = float(dropout)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.n_layers = int(config.num_hidden_layers)
        self.n_heads = int(config.num_attention_heads)
        self.hidden_size = int(config.hidden_size)
        self.dropout = nn.Dropout(self.dropout_p)
        self.head = (
            nn.Linear(self.hidden_size, self.num_labels)
            if self.kind == "encoder" and self.num_labels > 0
            else None
        )
        self.pool = _Tap()
        self.hidden_taps = _taps(self.n_layers)
        self.attention_taps = _taps(self.n_layers)
        self.value_taps = _taps(self.n_layers)
        self._values = self._find_values()

    # ------------------------------------------------------------------ structure

    @property
    def is_embedding_model(self) -> bool:
        """True when forward returns the sentence embedding (no classification head)."""
        return self.kind == "encoder" and self.head is None

    @property
    def out_features(self) -> int:
        """Width of the forward output: classes, 1 for regression, or the embedding width."""
        return self.hidden_size if self.is_embedding_model else self.num_labels

    def _find_values(self) -> list[nn.Module]:
        try:
            _, layers = find_layer_list(self.backbone, self.n_layers)
        except ModelError:
            return []
        found: list[nn.Module] = []
        for layer in layers:
            match = [m for n, m in layer.named_modules() if n.split(".")[-1] in _VALUE_NAMES]
            if len(match) != 1 or not isinstance(match[0], nn.Linear):
                return []
            found.append(match[0])
        return found

    def hidden_layer_names(self) -> list[str]:
        """Taps fed with each transformer block's output (N, T, D), in depth order."""
        return [f"hidden_taps.{i}" for i in range(self.n_layers)]

    def embedding_layer_name(self) -> str:
        """The tap fed with the pooled sentence embedding (N, D)."""
        return "pool"

    def attention_layer_names(self) -> list[str]:
        """Taps fed with each block's attention probabilities (N, heads, T, T)."""
        return [f"attention_taps.{i}" for i in range(self.n_layers)]

    def value_layer_names(self) -> list[str]:
        """Taps fed with each block's value vectors (N, heads, T, d_head); empty when the
        architecture's value projection cannot be found."""
        return [f"value_taps.{i}" for i in range(self.n_layers)] if self._values else []

    # ------------------------------------------------------------------ forward

    @contextlib.contextmanager
    def _eager_attention(self, needed: bool) -> Iterator[None]:
        config = self.backbone.config
        current = getattr(config, "_attn_implementation", "eager")
        if not needed or current == "eager":
            yield
            return
        setter = getattr(self.backbone, "set_attn_implementation", None)
        if not callable(setter):
            raise ModelError(
                f"{type(self.backbone).__name__} cannot switch to eager attention to expose its "
                "attention maps. Load it with attn_implementation='eager'."
            )
        setter("eager")
        try:
            yield
        finally:
            setter(current)

    @contextlib.contextmanager
    def _capture_values(self, needed: bool) -> Iterator[list[torch.Tensor]]:
        values: list[torch.Tensor] = []
        if not needed:
            yield values
            return
        heads = self.n_heads

        def hook(_m: nn.Module, _inputs: Any, out: torch.Tensor) -> None:
            n, t, d = out.shape
            values.append(out.view(n, t, heads, d // heads).transpose(1, 2))

        handles = [m.register_forward_hook(hook) for m in self._values]
        try:
            yield values
        finally:
            for h in handles:
                h.remove()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, C) — or the sentence embedding (N, D) for an embedding model."""
        ids, mask = split_encoded(x)
        want_hidden = any(t.listening() for t in self.hidden_taps)  # type: ignore[operator]
        want_attn = any(t.listening() for t in self.attention_taps)  # type: ignore[operator]
        want_values = bool(self._values) and any(
            t.listening()  # type: ignore[operator]
            for t in self.value_taps
        )
        seq_cls = self.kind == "sequence_classification"
        want_pool = not seq_cls or self.pool.listening()
        with self._eager_attention(want_attn), self._capture_values(want_values) as values:
            out = self.backbone(
                input_ids=ids,
                attention_mask=mask,
                output_hidden_states=want_hidden or (seq_cls and want_pool),
                output_attentions=want_attn,
                return_dict=True,
            )
        if want_hidden:
            for tap, h in zip(self.hidden_taps, out.hidden_states[1:], strict=True):
                tap(h)
        if want_attn:
            for tap, a in zip(self.attention_taps, out.attentions, strict=True):
                tap(a)
        if want_values:
            for tap, v in zip(self.value_taps, values, strict=True):
                tap(v)
        emb = None
        if want_pool:
            last = out.hidden_states[-1] if seq_cls else out.last_hidden_state
            emb = masked_mean(last, mask) if self.pooling == "mean" else last[:, 0]
            if self.normalize:  # = F.normalize, in ops ONNX Runtime's INT8 quantizer accepts
                emb = emb * torch.rsqrt(emb.pow(2).sum(dim=-1, keepdim=True).clamp_min(1e-24))
            emb = self.pool(emb)
        if seq_cls:
            logits: torch.Tensor = out.logits
            return logits
        assert emb is not None
        return emb if self.head is None else self.head(self.dropout(emb))

    # ------------------------------------------------------------------ spec

    def spec(self) -> dict[str, Any]:
        """JSON architecture (transformers config included); weights are not part of it."""
        return {
            "type": "HFClassifier",
            "kind": self.kind,
            "config": config_to_dict(self.backbone.config),
            "attn_implementation": getattr(self.backbone.config, "_attn_implementation", None),
            "num_labels": self.num_labels,
            "problem": self.problem,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "dropout": self.dropout_p,
            "max_length": self.max_length,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> HFClassifier:
        """Rebuild (random weights) from :meth:`spec`, offline."""
        tf = transformers_module()
        kind = spec_field(spec, "kind", "HFClassifier")
        if kind not in _KINDS:
            raise ConfigError(
                f"The 'kind' of an HFClassifier spec must be one of {_KINDS}. Got {kind!r}."
            )
        config = config_from_dict(spec_field(spec, "config", "HFClassifier"))
        impl = spec.get("attn_implementation") or "sdpa"
        auto = tf.AutoModelForSequenceClassification if kind != "encoder" else tf.AutoModel
        with quiet_transformers():
            backbone = auto.from_config(config, attn_implementation=impl)
        return cls(
            backbone,
            num_labels=int(spec_field(spec, "num_labels", "HFClassifier")),
            problem=spec.get("problem"),
            pooling=spec.get("pooling", "mean"),
            normalize=bool(spec.get("normalize", False)),
            dropout=float(spec.get("dropout", 0.1)),
            max_length=spec.get("max_length"),
        )

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind}, layers={self.n_layers}, hidden={self.hidden_size}, "
            f"heads={self.n_heads}, num_labels={self.num_labels}, pooling={self.pooling}"
        )
