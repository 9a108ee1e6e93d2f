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


@pytest.mark.slow  # a tiny BERT teacher: about a minute on a shared core
def test_a_text_system_distils_on_its_unlabelled_texts_and_refuses_synthetic_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher, data = _text_files(tmp_path)
    common = ["distill", "--teacher", str(teacher), "--data", str(data), "--target", "label",
              "--text-column", "review", "--width", "1.0", "--quick", "--allow-weak-teacher",
              "--labelled-fraction", "0.5", "--method", "kd", "--method", "pseudo_label"]  # fmt: skip
    assert _run(*common, "--transfer", "noise", "--out", str(tmp_path / "refused")) == 2
    assert "an unlabelled text corpus is not supported yet" in " ".join(
        capsys.readouterr().err.split()
    )
    assert _run(*common, "--out", str(tmp_path / "out")) == 0
    records = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out/records").glob("*.json")}
    assert {r["status"] for r in records.values()} == {"ok"}
    kd = records["system__kd"]["student"]["transfer"]
    assert kd["used"] == "soft targets" and kd["kind"] is None
    assert kd["labelled_rows"] == kd["unlabelled_rows"] == kd["teacher_labelled_rows"] == 36
    assert records["system__pseudo_label"]["student"]["transfer"]["used"] == "hard labels"
