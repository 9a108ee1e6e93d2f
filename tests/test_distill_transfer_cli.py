"""`potstill distill --transfer*`: the flags build the system's transfer section, their help
comes from its fields, and a bad combination is refused (exit 2, no traceback) before work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from potstill.cli import main
from potstill.cli_options import transfer_section
from potstill.config import TransferSpec


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0)


def test_the_flags_make_the_transfer_section() -> None:
    assert transfer_section(None, None, None, None, None, None, None) is None
    section = transfer_section("munge", None, 2.0, 0.3, None, None, None)
    assert TransferSpec.model_validate(section).parameters() == {"p": 0.3, "s": 1.0}
    section = transfer_section("file", Path("rows.csv"), None, None, None, None, None)
    assert section == {"kind": "file", "path": "rows.csv"}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--munge-p", "0.3"], "--munge-p describe(s) a transfer set, but --transfer is not given"),
        (["--transfer", "mixup", "--munge-p", "0.3"], "transfer: 'p' (kind 'munge') do(es) not"),
        (["--transfer", "smote"], "systems[0].transfer.kind"),
        (["--labelled-fraction", "1.5"], "systems[0].dataset.labelled_fraction"),
    ],
)
def test_bad_transfer_flags_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("a,b,y\n1,2,0\n3,4,1\n")
    teacher = tmp_path / "teacher.onnx"
    teacher.write_bytes(b"not read: the options are refused first")
    code = _run("distill", "--teacher", str(teacher), "--data", str(data), "--target", "y",
                "--out", str(tmp_path / "out"), *flags)  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert expected in " ".join((captured.out + captured.err).split())
    assert "Traceback" not in captured.out + captured.err


def test_the_help_comes_from_the_config_fields(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    assert _run("distill", "--help") == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "--labelled-fraction" in text and "--mixup-alpha" in text
    assert "Beta(alpha, alpha)" in text


def _text_files(tmp_path: Path) -> tuple[Path, Path]:
    transformers = pytest.importorskip("transformers")
    import numpy as np
    import pandas as pd
    import torch

    from potstill.models import HFClassifier, save_pretrained

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "great"]
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=16)  # fmt: skip
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    teacher = HFClassifier(transformers.AutoModel.from_config(config), num_labels=2,
                           tokenizer=tokenizer, max_length=6)  # fmt: skip
    save_pretrained(teacher, tmp_path / "teacher", tokenizer=tokenizer)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words[5:], size=rng.integers(1, 4))) for _ in range(120)]
    labels = ["positive" if "good" in t or "great" in t else "negative" for t in texts]
    pd.DataFrame({"review": texts, "label": labels}).to_csv(tmp_path / "reviews.csv", index=False)
    return tmp_path / "teacher", tmp_path / "reviews.csv"


def _corpus(tmp_path: Path, data: Path) -> tuple[Path, int]:
    """A corpus.txt of new four-word texts (the data's have 1-3 words), three of the data's
    own texts (one in capitals), an empty line and a repeat; and how many new texts it has."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    new = [
        " ".join(rng.choice(["good", "bad", "drug", "pain", "great"], size=4)) for _ in range(24)
    ]
    copies = pd.read_csv(data)["review"].drop_duplicates().iloc[:3].tolist()
    lines = [*new, copies[0].upper(), "", *copies[1:], new[0]]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "corpus.txt", len(set(new))  # random texts may repeat among themselves


@pytest.mark.slow  # a tiny BERT teacher: about a minute on a shared core
def test_a_text_system_distils_on_an_unlabelled_corpus_and_refuses_synthetic_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from potstill.study import system as system_module

    teacher, data = _text_files(tmp_path)
    corpus, n_new = _corpus(tmp_path, data)
    common = ["distill", "--teacher", str(teacher), "--data", str(data), "--target", "label",
              "--text-column", "review", "--width", "1.0", "--quick", "--allow-weak-teacher",
              "--labelled-fraction", "0.5", "--method", "kd", "--method", "pseudo_label"]  # fmt: skip
    assert _run(*common, "--transfer", "noise", "--out", str(tmp_path / "refused")) == 2
    assert "For texts, give kind 'file' with an unlabelled corpus" in " ".join(
        capsys.readouterr().err.split()
    )
    seen: dict[str, tuple[object, object]] = {}
    real_train = system_module.train

    def train(student: object, task: object, **kwargs: object) -> object:
        seen[str(kwargs["description"])] = (task, kwargs.get("transfer"))
        return real_train(student, task, **kwargs)

    monkeypatch.setattr(system_module, "train", train)
    monkeypatch.setenv("POTSTILL_REUSE_STUDENTS", "0")
    corpus_flags = ["--transfer", "file", "--transfer-path", str(corpus)]
    assert _run(*common, *corpus_flags, "--out", str(tmp_path / "out")) == 0
    records = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out/records").glob("*.json")}
    assert {r["status"] for r in records.values()} == {"ok"}
    kd = records["system__kd"]["student"]["transfer"]
    assert kd["used"] == "soft targets" and kd["kind"] == "file"
    assert kd["labelled_rows"] == kd["unlabelled_rows"] == 36
    assert kd["transfer_rows"] == kd["corpus"]["kept"] == n_new
    assert kd["teacher_labelled_rows"] == 36 + n_new
    dropped = kd["corpus"]
    assert dropped["texts"] == 29 and dropped["empty"] == 1
    assert dropped["repeated"] == 24 - n_new + 1  # the repeats among the new and new[0] again
    assert dropped["in_train"] + dropped["in_val"] + dropped["in_test"] == 3
    assert records["system__pseudo_label"]["student"]["transfer"]["used"] == "hard labels"
    task, transfer = seen["system/kd"]
    corpus_rows = transfer.X[-n_new:]  # type: ignore[attr-defined]
    held_out = {r.tobytes() for r in [*task.val.X, *task.test.X]}  # type: ignore[attr-defined]
    assert not {r.tobytes() for r in corpus_rows} & held_out  # no test text reaches training
    assert seen["system/scratch"][1] is None
