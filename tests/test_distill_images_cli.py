"""`potstill distill` on a user's own CNN in (N, C, H, W) layout and their own images.

A tiny CNN is trained for a few steps on sklearn's 8x8 digits and saved as ONNX and as
TorchScript, the way a user's MNIST-style model arrives; the images arrive as an .npz, a
folder of PNGs per class, or a CSV of 64 pixel columns.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn

from potstill.cli import main
from potstill.config import SystemSpec
from potstill.costs import export_onnx
from potstill.errors import ConfigError
from potstill.models import load_teacher
from potstill.study.tasks import fit_to_teacher, load_task


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    digits = load_digits()
    X = (digits.images[:600, None] / 16.0).astype(np.float32)  # (N, 1, 8, 8)
    y = digits.target[:600].astype(np.int64)
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(cnn.parameters(), lr=1e-2)
    for _ in range(60):  # a few steps: a real, if modest, teacher
        loss = nn.functional.cross_entropy(cnn(torch.from_numpy(X)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    cnn.eval()
    files = {"onnx": export_onnx(cnn, X[:4], root / "cnn.onnx"), "pt": root / "cnn.pt"}
    with warnings.catch_warnings():  # torch deprecates TorchScript; users still ship it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(cnn, torch.from_numpy(X[:2])).save(str(files["pt"]))
    np.savez(root / "digits.npz", X=X, y=y)
    files["npz"] = root / "digits.npz"
    for i in range(300):
        folder = root / "pngs" / f"digit_{y[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((X[i, 0] * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    files["pngs"] = root / "pngs"
    table = pd.DataFrame(X.reshape(len(X), -1), columns=[f"p{i}" for i in range(64)])
    table.assign(label=y).to_csv(root / "digits.csv", index=False)
    files["csv"] = root / "digits.csv"
    return files


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0)


def _records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def _check_cnn_records(out: Path, source: str) -> dict[str, dict]:
    records = _records(out)
    assert set(records) == {"system__scratch", "system__kd"}
    for record in records.values():
        assert record["status"] == "ok", record["reason"]
        assert record["kind"] == "image"
        assert record["student"]["arch"]["type"] == "SmallCNN"
        assert record["student"]["params"] <= record["teacher"]["params"]
        assert record["teacher"]["input"]["shape"] == [1, 8, 8]
        assert record["teacher"]["input"]["source"] == source
        assert record["costs"]["reduction"] is not None
    assert (out / "report.md").is_file()
    return records


def test_onnx_cnn_on_an_npz_of_images(user_files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = _run(
        "distill", "--teacher", str(user_files["onnx"]), "--data", str(user_files["npz"]),
        "--input-shape", "1,8,8", "--width", "1", "--quick", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    records = _check_cnn_records(out, "teacher.input_shape / --input-shape")
    kd = records["system__kd"]
    assert kd["teacher"]["backend"] == "onnx" and kd["quality"]["n_test"] == 120
    assert "(N, C, H, W) as given" in kd["dataset"]["note"]


def test_torchscript_cnn_on_a_folder_of_pngs(user_files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = _run(
        "distill", "--teacher", str(user_files["pt"]), "--data", str(user_files["pngs"]),
        "--width", "1", "--quick", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    records = _check_cnn_records(out, "the data's own shape")
    kd = records["system__kd"]
    assert kd["teacher"]["backend"] == "torch"
    assert kd["quality"]["n_test"] == 60  # 20 % of the 300 PNGs
    assert "class folders" in kd["dataset"]["note"]


@pytest.mark.parametrize(
    ("extra", "phrases"),
    [
        ((), ["cannot take the data's rows of shape (64)", "--input-shape", "1,28,28"]),
        (("--input-shape", "8,8,1"), ["shape (8, 8, 1)", "shape (64)", "channels-last"]),
        (("--input-shape", "3,8,8"), ["shape (3, 8, 8)", "shape (64)", "64 values per row, not 192"]),
    ],
)  # fmt: skip
def test_a_layout_mismatch_is_refused_before_training(
    user_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    phrases: list[str],
) -> None:
    out = tmp_path / "out"
    code = _run(
        "distill", "--teacher", str(user_files["pt"]), "--data", str(user_files["csv"]),
        "--target", "label", "--quick", "--out", str(out), *extra,
    )  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "Traceback" not in err
    for phrase in phrases:
        assert phrase in err
    assert not (out / "records").exists() or not any((out / "records").iterdir())


def test_flat_pixel_columns_are_reshaped_to_the_onnx_file_s_declared_shape(
    user_files: dict[str, Path],
) -> None:
    spec = SystemSpec.model_validate({
        "name": "digits",
        "dataset": {"path": str(user_files["csv"]), "target": "label"},
        "teacher": {"path": str(user_files["onnx"])},
    })  # fmt: skip
    table = load_task(spec, seed=0)
    teacher = load_teacher(user_files["onnx"], problem="classification")
    assert table.input_shape == (64,) and teacher.input_shape == (1, 8, 8)
    task, entry = fit_to_teacher(spec, table, teacher)
    assert task.kind == "image" and task.input_shape == (1, 8, 8)
    assert entry["input"]["source"] == "declared by the ONNX file"
    assert "(64) values reshaped to (1, 8, 8)" in entry["input"]["rearranged"]
    np.testing.assert_array_equal(task.test.X.reshape(len(task.test), -1), table.test.X)
    clash = spec.model_copy(
        update={"teacher": spec.teacher.model_copy(update={"input_shape": [1, 4, 16]})}
    )
    with pytest.raises(ConfigError, match=r"is \(1, 4, 16\).*declares inputs of shape \(1, 8, 8\)"):
        fit_to_teacher(clash, table, teacher)
