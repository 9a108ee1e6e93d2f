"""HFClassifier, Hugging Face directories, the "hf" teacher backend and its round trips.

Every model here is a tiny random BERT (2-3 layers, hidden 16) with a 14-token vocabulary
built in the test; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from potstill.costs import export_onnx  # noqa: E402
from potstill.data.text import encode_texts  # noqa: E402
from potstill.errors import ConfigError, ModelError  # noqa: E402
from potstill.models import (  # noqa: E402
    FeatureTap,
    HFClassifier,
    Teacher,
    load_model,
    load_pretrained,
    load_teacher,
    save_model,
    save_pretrained,
    text_predictor,
)

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip
TEXTS = np.array(["good drug", "the pain was awful", "great", "it was bad", "bad bad drug"],
                 dtype=object)  # fmt: skip


def tiny_tokenizer() -> object:
    return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})


def tiny_config(layers: int = 3, **kw: object) -> object:
    return transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=32, **kw,
    )  # fmt: skip


def tiny_classifier(num_labels: int = 3, layers: int = 3, seed: int = 0) -> HFClassifier:
    torch.manual_seed(seed)
    backbone = transformers.AutoModel.from_config(tiny_config(layers))
    return HFClassifier(
        backbone, num_labels=num_labels, tokenizer=tiny_tokenizer(), max_length=8
    ).eval()


def encoded(texts: np.ndarray = TEXTS) -> torch.Tensor:
    return torch.from_numpy(encode_texts(texts, tiny_tokenizer(), 8))


def test_forward_takes_int_or_float_rows_and_ignores_padding() -> None:
    model = tiny_classifier()
    x = encoded()
    logits = model(x)
    assert logits.shape == (5, 3)
    torch.testing.assert_close(model(x.float()), logits)
    # Changing a padded token id (mask 0) must not change the prediction.
    x2 = x.clone()
    x2[0, 0, 7] = 5
    assert x[0, 1, 7] == 0
    torch.testing.assert_close(model(x2), logits)


def test_mean_pooling_matches_a_hand_computation() -> None:
    model = tiny_classifier()
    x = encoded()
    with FeatureTap(model, embedding=model.embedding_layer_name()) as tap:
        emb = tap(x).embedding
    last = model.backbone(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state
    n = int(x[1, 1].sum())  # "the pain was awful" → CLS + 4 words + SEP
    assert n == 6
    torch.testing.assert_close(emb[1], last[1, :n].mean(dim=0))
    torch.testing.assert_close(model(x), model.head(emb))


def test_taps_expose_hidden_attentions_and_values() -> None:
    model = tiny_classifier()
    x = encoded()
    tap = FeatureTap(
        model,
        hidden=model.hidden_layer_names(),
        embedding="pool",
        attentions=model.attention_layer_names(),
        values=model.value_layer_names(),
    )
    with torch.no_grad(), tap:
        out = tap(x)
    assert out.available() == {"logits", "hidden", "embedding", "attentions", "values"}
    assert [tuple(h.shape) for h in out.hidden] == [(5, 8, 16)] * 3
    assert [tuple(a.shape) for a in out.attentions] == [(5, 4, 8, 8)] * 3
    assert [tuple(v.shape) for v in out.values] == [(5, 4, 8, 4)] * 3
    with torch.no_grad():
        ref = model.backbone(input_ids=x[:, 0], attention_mask=x[:, 1], output_hidden_states=True)
    torch.testing.assert_close(out.hidden[1], ref.hidden_states[2])
    # attention rows are distributions that put no weight on padding
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(5, 4, 8))
    assert float(out.attentions[0][0, :, :, 4:].abs().max()) == 0.0  # "good drug": 4 real tokens
    # values are the value projection of the block's input, split into heads
    with torch.no_grad():
        v = model.backbone.encoder.layer[1].attention.self.value(ref.hidden_states[1])
    torch.testing.assert_close(out.values[1], v.view(5, 8, 4, 4).transpose(1, 2))
    # the fast attention kernel is restored afterwards
    assert model.backbone.config._attn_implementation == "sdpa"


def test_refusals() -> None:
    model = tiny_classifier()
    with pytest.raises(ModelError, match=r"shaped \(N, 2, L\).*Got shape \(5, 8\)"):
        model(torch.zeros(5, 8, dtype=torch.long))
    with pytest.raises(ModelError, match=r"needs its \.config"):
        HFClassifier(torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="'pooling' parameter of HFClassifier"):
        HFClassifier(model.backbone, num_labels=2, pooling="max")  # type: ignore[arg-type]


def test_spec_describes_the_architecture() -> None:
    model = tiny_classifier()
    spec = model.spec()
    assert spec["type"] == "HFClassifier" and spec["config"]["num_hidden_layers"] == 3
    assert (spec["kind"], spec["num_labels"], spec["pooling"]) == ("encoder", 3, "mean")


def test_potstill_directory_round_trip(tmp_path: Path) -> None:
    model = tiny_classifier()
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, HFClassifier)
    torch.testing.assert_close(again(encoded()), model(encoded()))


def test_save_pretrained_reloads_with_plain_automodel(tmp_path: Path) -> None:
    model = tiny_classifier()
    folder = save_pretrained(model, tmp_path / "hf")
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "potstill_head.json", "tokenizer.json"} <= names
    x = encoded()
    plain = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
    torch.testing.assert_close(
        plain(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state,
        model.backbone(input_ids=x[:, 0], attention_mask=x[:, 1]).last_hidden_state,
    )
    tok = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert tok.get_vocab() == tiny_tokenizer().get_vocab()  # type: ignore[attr-defined]
    again = load_pretrained(folder)
    torch.testing.assert_close(again(x), model(x))
    assert again.tokenizer is not None and again.max_length == 8


def test_onnx_export_gives_the_same_outputs(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = tiny_classifier()
    x = encoded().float().numpy()
    path = export_onnx(model, x, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


def test_teacher_from_pretrained_sequence_classification(tmp_path: Path) -> None:
    torch.manual_seed(1)
    seq = transformers.AutoModelForSequenceClassification.from_config(tiny_config(2, num_labels=3))
    seq.save_pretrained(str(tmp_path / "seq"))
    tiny_tokenizer().save_pretrained(str(tmp_path / "seq"))  # type: ignore[attr-defined]
    teacher = load_teacher(tmp_path / "seq", problem="classification")
    assert teacher.backend == "hf"
    assert teacher.capabilities == {"logits", "hidden", "embedding", "attentions", "values"}
    scores = teacher.predict_scores(TEXTS)  # raw strings: tokenised by the teacher
    x = encoded(TEXTS)
    seq.eval()
    expected = torch.softmax(seq(input_ids=x[:, 0], attention_mask=x[:, 1]).logits, -1)
    # the folder's tokenizer has model_max_length 512, default max_length is 128 tokens
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-6)
    short = Teacher.from_pretrained(tmp_path / "seq", problem="classification", max_length=8)
    np.testing.assert_allclose(short.predict_scores(TEXTS), expected.detach().numpy(), atol=1e-5)
    out = teacher.outputs(x)
    assert len(out.hidden) == 2 and len(out.attentions) == 2 and out.embedding.shape == (5, 16)
    assert teacher.describe()["architecture"]["config"]["num_hidden_layers"] == 2


def test_teacher_from_pretrained_refusals(tmp_path: Path) -> None:
    model = tiny_classifier()
    save_pretrained(model, tmp_path / "hf")
    with pytest.raises(ConfigError, match="has num_labels=3, but num_labels=5"):
        Teacher.from_pretrained(tmp_path / "hf", problem="classification", num_labels=5)
    with pytest.raises(ModelError, match=r"has no config\.json"):
        Teacher.from_pretrained(tmp_path, problem="classification")
    with pytest.raises(ModelError, match=r"has no model\.json.*no config\.json"):
        load_teacher(tmp_path, problem="classification")
    with pytest.raises(ModelError, match="takes a save_pretrained folder"):
        Teacher.from_pretrained(42, problem="classification")  # type: ignore[arg-type]


def test_embedding_teacher_has_no_scores(tmp_path: Path) -> None:
    torch.manual_seed(0)
    transformers.AutoModel.from_config(tiny_config(2)).save_pretrained(str(tmp_path / "enc"))
    teacher = Teacher.from_pretrained(tmp_path / "enc", problem="classification")
    assert teacher.module.is_embedding_model  # type: ignore[union-attr]
    assert teacher.outputs(encoded()).logits.shape == (5, 16)
    with pytest.raises(ModelError, match="sentence-embedding model"):
        teacher.predict_scores(encoded().numpy())
    with pytest.raises(ModelError, match="no tokenizer"):
        Teacher.from_pretrained(
            tmp_path / "enc", problem="classification", num_labels=2
        ).predict_scores(TEXTS)
    # as an embedding teacher its "scores" are the sentence embeddings themselves
    as_encoder = Teacher.from_pretrained(tmp_path / "enc", problem="embedding")
    x = encoded().numpy()
    np.testing.assert_allclose(
        as_encoder.predict_scores(x), as_encoder.outputs(encoded()).logits.numpy(), atol=1e-6
    )
    assert as_encoder.predict_scores(x).shape == (5, 16)
    with pytest.raises(ConfigError, match="built for classification, but the task is embedding"):
        Teacher.from_torch(tiny_classifier(), problem="embedding")


def test_load_teacher_potstill_dir_takes_the_tokenizer_beside_it(tmp_path: Path) -> None:
    model = tiny_classifier()
    save_model(model, tmp_path / "m")
    tiny_tokenizer().save_pretrained(str(tmp_path / "m"))  # type: ignore[attr-defined]
    teacher = load_teacher(tmp_path / "m", problem="classification")
    assert teacher.backend == "hf"
    np.testing.assert_allclose(
        teacher.predict_scores(TEXTS),
        text_predictor(model, tiny_tokenizer(), 8, "classification")(TEXTS),
        atol=1e-6,
    )
    with pytest.raises(ConfigError, match="built for classification, but the task is regression"):
        Teacher.from_torch(model, problem="regression")


def test_embedding_model_exports_and_quantizes_to_int8(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from potstill.costs import quantize_int8

    torch.manual_seed(0)
    backbone = transformers.AutoModel.from_config(tiny_config(2))
    model = HFClassifier(backbone, num_labels=0, normalize=True).eval()
    assert model.max_length == 32  # the default 128 is capped by max_position_embeddings
    x = encoded().float().numpy()
    emb = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
    path = export_onnx(model, x, tmp_path / "e.onnx")
    quantize_int8(path, tmp_path / "e.int8.onnx")  # normalisation must not break the quantizer
    session = ort.InferenceSession(
        str(tmp_path / "e.int8.onnx"), providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {"input": x})[0]
    assert got.shape == emb.shape and np.all(np.isfinite(got))
