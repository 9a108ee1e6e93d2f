"""Causal-LM teachers: the folder loader, layer-dropped / narrower students, and the
LLM → classifier teacher (prompt template, label-word probabilities, KD into a text student).

Every model is a tiny random Llama (hidden 16) over a 14-word vocabulary built here;
nothing is downloaded. The real SmolLM2 GGUF path is covered by ``test_llm_gguf.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic
import pytest
import torch

transformers = pytest.importorskip("transformers")

from potstill.errors import ConfigError, ModelError  # noqa: E402
from potstill.models.llm import causal_lm_info, load_causal_lm, plain_copy  # noqa: E402
from potstill.models.llm_label import (  # noqa: E402
    LLMLabelBackend,
    PromptTemplate,
    label_probabilities,
    label_token_ids,
    render_prompt,
)
from potstill.models.llm_students import drop_layers, kept_layers, narrower  # noqa: E402
from potstill.zoo.llm import llm_label_teacher, open_llm  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip
TEXTS = np.array(["good drug", "the pain was awful", "great", "it was bad"], dtype=object)
TEMPLATE = PromptTemplate(template="it was {text} the", label_words=("bad", "good"))


def tiny_tokenizer() -> object:
    return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})


def tiny_llama(layers: int = 4, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=True, pad_token_id=0,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config).eval()


def logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-llama"
    tiny_llama().save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)  # type: ignore[attr-defined]
    return path


def test_folder_loads_with_the_same_outputs(folder: Path) -> None:
    model, tokenizer, info = open_llm(folder)
    assert torch.equal(logits(model, [5, 7, 9]), logits(tiny_llama(), [5, 7, 9]))
    assert tokenizer.get_vocab() == tiny_tokenizer().get_vocab()  # type: ignore[attr-defined]
    assert info["source"] == str(folder)
    assert causal_lm_info(model)["layers"] == 4


def test_missing_folder_and_non_model_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        open_llm(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"no config\.json"):
        load_causal_lm(tmp_path)


def test_plain_copy_keeps_outputs_and_saves(tmp_path: Path) -> None:
    model = tiny_llama()
    copy = plain_copy(model)
    assert torch.equal(logits(copy, [5, 6]), logits(model, [5, 6]))
    copy.save_pretrained(tmp_path / "copy")
    assert (tmp_path / "copy" / "model.safetensors").is_file()


def test_kept_layers_counts_from_the_last() -> None:
    assert kept_layers(30, 2) == list(range(1, 30, 2))
    assert kept_layers(4, 3) == [0, 3]
    with pytest.raises(ConfigError, match="must be <= the teacher's 4 layers"):
        kept_layers(4, 5)


def test_drop_layers_copies_the_kept_layers(tmp_path: Path) -> None:
    teacher = tiny_llama(layers=4)
    student = drop_layers(teacher, 2)
    assert student.config.num_hidden_layers == 2
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(
        s["model.layers.0.self_attn.q_proj.weight"], t["model.layers.1.self_attn.q_proj.weight"]
    )
    assert torch.equal(
        s["model.layers.1.mlp.up_proj.weight"], t["model.layers.3.mlp.up_proj.weight"]
    )
    assert torch.equal(s["model.embed_tokens.weight"], t["model.embed_tokens.weight"])
    assert torch.equal(
        drop_layers(teacher, 1).state_dict()["model.norm.weight"], t["model.norm.weight"]
    )
    student.save_pretrained(tmp_path / "student")
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "student")
    assert torch.equal(logits(again, [5, 7]), logits(student, [5, 7]))


def test_narrower_student_is_smaller_and_sliced() -> None:
    teacher = tiny_llama()
    student = narrower(teacher, 0.5)
    c = student.config
    assert (c.num_attention_heads, c.num_key_value_heads, c.hidden_size, c.intermediate_size) == (
        2,
        1,
        8,
        16,
    )
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(s["model.embed_tokens.weight"], t["model.embed_tokens.weight"][:, :8])
    assert logits(student, [5, 6]).shape == (1, 2, len(WORDS))
    with pytest.raises(ConfigError, match="width"):
        narrower(teacher, 1.5)


def test_template_needs_text_exactly_once() -> None:
    for bad in ("no field", "{text} and {text}", "{text} {label}", "{0}", "{text"):
        with pytest.raises(pydantic.ValidationError, match="template"):
            PromptTemplate(template=bad, label_words=("a", "b"))
    assert PromptTemplate(template="{{x}} {text}", label_words=("a", "b")).template


def test_label_words_must_start_with_distinct_tokens() -> None:
    assert label_token_ids(tiny_tokenizer(), ["bad", "good"]) == [6, 5]
    with pytest.raises(ConfigError, match="same token"):
        label_token_ids(tiny_tokenizer(), ["good", "good drug"])


def test_label_probabilities_sum_to_one_and_match_a_single_prompt() -> None:
    model, tok = tiny_llama(), tiny_tokenizer()
    prompts = [render_prompt(TEMPLATE, tok, t) for t in TEXTS]
    probs = label_probabilities(model, tok, prompts, [6, 5, 12], batch_size=3)
    assert probs.shape == (4, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    ids = tok(prompts[1], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    alone = torch.softmax(logits(model, ids)[0, -1, [6, 5, 12]].double(), dim=-1).numpy()
    np.testing.assert_allclose(probs[1], alone, atol=1e-5)  # left padding does not change it


def test_llm_teacher_caches_scores_and_answers_for_bound_rows(tmp_path: Path) -> None:
    model, tok = tiny_llama(), tiny_tokenizer()
    teacher = llm_label_teacher(model, tok, TEMPLATE, cache_dir=tmp_path)
    backend = teacher.engine
    assert isinstance(backend, LLMLabelBackend) and teacher.backend == "llm"
    first = teacher.predict_scores(TEXTS)
    assert backend.calls == 4 and teacher.predict_scores(TEXTS[:2]).shape == (2, 2)
    assert backend.calls == 4  # memoised
    np.testing.assert_allclose(teacher.predict_fn()(TEXTS[:2]), first[:2], rtol=1e-5)
    assert backend.calls == 4  # predict_fn runs the LLM itself (timed as a request), unmemoised
    again = llm_label_teacher(model, tok, TEMPLATE, cache_dir=tmp_path)
    np.testing.assert_allclose(again.predict_scores(TEXTS), first)
    assert again.engine.calls == 0  # read from the cache file
    encoded = np.arange(8, dtype=np.int64).reshape(4, 2)
    with pytest.raises(ModelError, match="no bind"):
        teacher.outputs(torch.from_numpy(encoded))
    backend.bind(encoded, TEXTS)
    out = teacher.outputs(torch.from_numpy(encoded[::-1].copy()))
    np.testing.assert_allclose(out.logits.exp().numpy(), first[::-1], rtol=1e-5)
