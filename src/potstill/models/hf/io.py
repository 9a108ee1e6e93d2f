"""Hugging Face directories in and out: ``save_pretrained`` layout, offline, no pickles.

A student must go back into the user's serving stack in the format it already serves, and
a Hugging Face shop serves ``save_pretrained`` directories. :func:`save_pretrained` writes
the backbone with transformers' own ``save_pretrained`` (``config.json`` +
``model.safetensors``), the tokenizer beside it, and — for an encoder with a potstill head —
``potstill_head.json`` + ``potstill_head.safetensors``. Plain
``transformers.AutoModel.from_pretrained(dir)`` therefore reloads the encoder unchanged;
:func:`load_pretrained` (and :meth:`Teacher.from_pretrained
<potstill.models.teacher.Teacher.from_pretrained>`) reloads the whole classifier.

Loading never touches the network (``local_files_only=True``) and never runs code from
the directory (``trust_remote_code`` stays off; weights are safetensors, or ``.bin`` files
that transformers opens with ``weights_only=True``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from potstill._io import atomic_write_bytes, atomic_write_json
from potstill.errors import ConfigError, ModelError
from potstill.models.hf.model import DEFAULT_MAX_LENGTH, HFClassifier, quiet_transformers
from potstill.types import Problem

__all__ = [
    "HEAD_JSON",
    "HEAD_WEIGHTS",
    "default_max_length",
    "is_hf_directory",
    "load_pretrained",
    "load_tokenizer",
    "same_vocabulary",
    "save_pretrained",
]

HEAD_JSON = "potstill_head.json"
HEAD_WEIGHTS = "potstill_head.safetensors"
_HEAD_FORMAT = "potstill-hf-head"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")
#: A tokenizer's model_max_length above this is transformers' "unknown" sentinel (1e30).
_SANE_TOKENS = 100_000


def is_hf_directory(path: Path) -> bool:
    """True for a folder in ``save_pretrained`` layout (it holds ``config.json``)."""
    return Path(path).is_dir() and (Path(path) / "config.json").is_file()


def load_tokenizer(source: Any) -> Any:
    """A tokenizer object as given, or loaded offline from a directory (None if it has none)."""
    if source is None or not isinstance(source, (str, Path)):
        return source
    folder = Path(source)
    if not any((folder / f).is_file() for f in _TOKENIZER_FILES):
        return None
    with quiet_transformers() as tf:
        try:
            return tf.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"Cannot load the tokenizer in '{folder}': {exc}") from exc


def same_vocabulary(a: Any, b: Any) -> bool:
    """Whether two tokenizers map every token to the same id (so one encoding serves both)."""
    return bool(a.get_vocab() == b.get_vocab())


def save_pretrained(model: HFClassifier, directory: Path, *, tokenizer: Any = None) -> Path:
    """Write ``model`` to ``directory`` in Hugging Face layout; return the directory.

    The tokenizer is ``tokenizer`` or the one the model carries (none is written if both
    are absent). ``potstill_head.json`` is written last, so a directory with it is complete.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        model.backbone.save_pretrained(str(directory))
        tok = tokenizer if tokenizer is not None else model.tokenizer
        if tok is not None:
            tok.save_pretrained(str(directory))
    if model.kind == "encoder":
        if model.head is not None:
            state = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
            atomic_write_bytes(directory / HEAD_WEIGHTS, save_safetensors(state))
        atomic_write_json(
            directory / HEAD_JSON,
            {
                "format": _HEAD_FORMAT,
                "num_labels": model.num_labels,
                "problem": model.problem,
                "pooling": model.pooling,
                "normalize": model.normalize,
                "dropout": model.dropout_p,
                "max_length": model.max_length,
                "weights": HEAD_WEIGHTS if model.head is not None else None,
            },
        )
    return directory


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"'{path}' cannot be read as JSON: {exc}.") from exc


def _sentence_transformers_settings(directory: Path) -> dict[str, Any]:
    """Pooling, normalisation and max length a sentence-transformers folder declares."""
    found: dict[str, Any] = {}
    pooling = directory / "1_Pooling" / "config.json"
    if pooling.is_file():
        cfg = _read_json(pooling)
        if cfg.get("pooling_mode_cls_token"):
            found["pooling"] = "cls"
        elif cfg.get("pooling_mode_mean_tokens"):
            found["pooling"] = "mean"
    modules = directory / "modules.json"
    if modules.is_file():
        kinds = [str(m.get("type", "")) for m in _read_json(modules)]
        found["normalize"] = any(k.endswith("Normalize") for k in kinds)
    sbert = directory / "sentence_bert_config.json"
    if sbert.is_file() and isinstance(_read_json(sbert).get("max_seq_length"), int):
        found["max_length"] = int(_read_json(sbert)["max_seq_length"])
    return found


def _max_length(
    settings: dict[str, Any], head: Any, requested: int | None, config: dict[str, Any], tok: Any
) -> tuple[int, str]:
    """The tokens texts are cut to, and where that came from: asked, recorded, or default."""
    if requested is not None:
        return requested, "requested (max_length)"
    if "max_length" in settings:
        where = HEAD_JSON if head is not None else "sentence_bert_config.json max_seq_length"
        return int(settings["max_length"]), where
    return default_max_length(config, tok)


def default_max_length(config: dict[str, Any], tokenizer: Any) -> tuple[int, str]:
    """The token length a Hugging Face folder records, and where it was found.

    The tokenizer's ``model_max_length`` when it is sane (transformers writes 1e30 when
    unknown) and fits the position embeddings; else the usable ``max_position_embeddings``
    (RoBERTa-family models reserve 2 positions); else :data:`DEFAULT_MAX_LENGTH`.
    """
    positions = config.get("max_position_embeddings")
    usable = positions if isinstance(positions, int) and positions > 2 else None
    offset = usable is not None and "roberta" in str(config.get("model_type", "")).lower()
    if usable is not None and offset:
        usable -= 2
    recorded = getattr(tokenizer, "model_max_length", None)
    if isinstance(recorded, int) and 2 <= recorded <= (usable or _SANE_TOKENS):
        return recorded, "the tokenizer's model_max_length"
    if usable is not None:
        return usable, "config.json max_position_embeddings" + (" - 2" if offset else "")
    return DEFAULT_MAX_LENGTH, f"potstill's default ({DEFAULT_MAX_LENGTH}; the folder records none)"


def load_pretrained(
    directory: Path,
    *,
    num_labels: int | None = None,
    problem: Problem | None = None,
    pooling: str | None = None,
    normalize: bool | None = None,
    tokenizer: Any = None,
    max_length: int | None = None,
    attn_implementation: str = "sdpa",
) -> HFClassifier:
    """Load a local ``save_pretrained`` directory as an :class:`HFClassifier`, offline.

    - with ``potstill_head.json``: the encoder and its potstill head (written by
      :func:`save_pretrained`); ``num_labels``/``problem`` must agree with it if given;
    - ``*ForSequenceClassification`` in ``config.json``'s ``architectures``: that model;
    - otherwise an encoder: a sentence-embedding model (``num_labels=None``; pooling and
      normalisation read from a sentence-transformers folder), or — with ``num_labels`` —
      the encoder under a new, untrained linear head, to be fine-tuned.

    ``tokenizer`` is a tokenizer object or folder; by default the directory's own.
    """
    directory = Path(directory)
    if not is_hf_directory(directory):
        raise ModelError(
            f"'{directory}' is not a Hugging Face model directory: it has no config.json. "
            "Give a folder written by save_pretrained (transformers or potstill)."
        )
    config = _read_json(directory / "config.json")
    head = _read_json(directory / HEAD_JSON) if (directory / HEAD_JSON).is_file() else None
    architectures = [str(a) for a in config.get("architectures") or []]
    seq_cls = head is None and any(a.endswith("ForSequenceClassification") for a in architectures)
    settings = _head_settings(directory, head, seq_cls, num_labels, problem)
    for key, value in (("pooling", pooling), ("normalize", normalize)):
        if value is not None:
            settings[key] = value
    tok = load_tokenizer(tokenizer if tokenizer is not None else directory)
    settings["max_length"], length_source = _max_length(settings, head, max_length, config, tok)
    backbone = _load_backbone(directory, seq_cls, attn_implementation)
    model = HFClassifier(backbone.float().eval(), tokenizer=tok, **settings)
    model.max_length_source = length_source
    if head is not None and head.get("weights"):
        _load_head_weights(model, directory / str(head["weights"]))
    return model.eval()


def _head_settings(
    directory: Path,
    head: dict[str, Any] | None,
    seq_cls: bool,
    num_labels: int | None,
    problem: Problem | None,
) -> dict[str, Any]:
    """HFClassifier settings from potstill's head file, a sentence-transformers folder, or
    a sequence classifier's own config (``num_labels``/``problem`` must agree with a head)."""
    if head is None:
        if seq_cls:
            return {} if problem is None else {"problem": problem}
        settings = _sentence_transformers_settings(directory)
        settings["num_labels"] = num_labels or 0
        settings["problem"] = problem if num_labels else None
        return settings
    if head.get("format") != _HEAD_FORMAT:
        raise ModelError(f"'{directory / HEAD_JSON}' is not a potstill head file.")
    for key, given in (("num_labels", num_labels), ("problem", problem)):
        if given is not None and head.get(key) is not None and given != head[key]:
            raise ConfigError(
                f"The model in '{directory}' has {key}={head[key]!r}, but {key}={given!r} "
                "was requested. Pass the model's own value or fine-tune a new head."
            )
    return {
        k: head[k]
        for k in ("num_labels", "problem", "pooling", "normalize", "dropout", "max_length")
        if head.get(k) is not None
    }


def _load_backbone(directory: Path, seq_cls: bool, attn_implementation: str) -> Any:
    with quiet_transformers() as tf:
        auto = tf.AutoModelForSequenceClassification if seq_cls else tf.AutoModel
        try:
            return auto.from_pretrained(
                str(directory), local_files_only=True, attn_implementation=attn_implementation
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(
                f"transformers cannot load the model in '{directory}' offline: {exc}"
            ) from exc


def _load_head_weights(model: HFClassifier, path: Path) -> None:
    if model.head is None:
        raise ModelError(f"'{path}' holds head weights, but the model has no head.")
    try:
        model.head.load_state_dict(load_safetensors(path.read_bytes()), strict=True)
    except (OSError, RuntimeError) as exc:
        raise ModelError(f"The head weights in '{path}' cannot be loaded: {exc}") from exc
