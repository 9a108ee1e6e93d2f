"""User teachers the way enterprise users have them, built in seconds on small real data.

Each builder trains a model with its own library on the *train* rows of a dataset that a
package ships (scikit-learn's breast_cancer, wine, diabetes, digits), saves it in that
library's own format, and writes the table the way users keep it: string labels whose
alphabetical order is not the teacher's class order, an ID column, headers with spaces and
capitals, a few empty cells where the teacher accepts them, and a way to name the test rows
(a ``Split`` column or a separate test file). The builder also scores the teacher *with its
own library* on the test rows: the number potstill's teacher metric must reproduce.

Loaded by path from ``conftest.py`` (``tests/`` is not a package) and importable by
``benchmarks/user_fleet.py``, so it imports nothing from the tests.
"""

from __future__ import annotations

import contextlib
import string
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

#: Fractions of rows in train / val / test (seeded shuffle, the same for every builder).
SPLIT = (0.6, 0.2, 0.2)


@dataclass(frozen=True)
class UserSystem:
    """One user system: a teacher file, its table, and what the user knows about both."""

    name: str
    fmt: str  # how the teacher is saved, e.g. "joblib HistGradientBoosting"
    problem: str  # "classification" | "regression"
    metric: str  # "accuracy" | "rmse": what library_metric is
    teacher: Path
    data: Path
    target: str
    library_metric: float  # the teacher scored by its own library on the test rows
    n_test: int
    dataset: dict[str, Any] = field(default_factory=dict)  # extra YAML dataset keys
    teacher_extra: dict[str, Any] = field(default_factory=dict)  # extra YAML teacher keys
    system_extra: dict[str, Any] = field(default_factory=dict)  # per-system YAML overrides
    distill_args: tuple[str, ...] = ()  # the same choices as `potstill distill` options
    teacher_params: int | None = None  # None for tree ensembles
    classes: tuple[str, ...] = ()  # the teacher's class order (what the model outputs)
    hidden: bool = False  # feature methods should apply (the teacher exposes hidden layers)
    relation: bool = False  # relation methods should apply (a representation is exposed)

    def yaml_system(self, **extra: Any) -> dict[str, Any]:
        """The system's entry of a fleet YAML file."""
        dataset = {"path": str(self.data), "target": self.target, **self.dataset}
        teacher = {"path": str(self.teacher), **self.teacher_extra}
        return {"name": self.name, "dataset": dataset, "teacher": teacher, **self.system_extra,
                **extra}  # fmt: skip

    def distill_argv(self, out: Path, methods: Sequence[str]) -> list[str]:
        """``potstill distill`` arguments for this system."""
        argv = ["distill", "--teacher", str(self.teacher), "--data", str(self.data)]
        argv += ["--target", self.target, "--out", str(out), *self.distill_args]
        for m in methods:
            argv += ["--method", m]
        return argv


# ---------------------------------------------------------------------- tables


def split_labels(n: int, seed: int = 0) -> np.ndarray:
    """``train`` / ``val`` / ``test`` per row, from a seeded shuffle."""
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(n * SPLIT[0]), int(n * SPLIT[1])
    labels = np.empty(n, dtype=object)
    labels[order[:n_train]] = "train"
    labels[order[n_train : n_train + n_val]] = "val"
    labels[order[n_train + n_val :]] = "test"
    return labels


def odd_headers(names: Sequence[str]) -> list[str]:
    """Headers as spreadsheets have them: capitals, spaces, a unit in brackets."""
    out = []
    for i, name in enumerate(names):
        title = string.capwords(str(name).replace("_", " "))
        out.append(f"{title} (raw)" if i % 5 == 2 else title)
    return out


def with_blanks(X: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """``X`` with ``n`` cells emptied (NaN) at seeded positions, two of them in the first column."""
    X = X.astype(np.float64, copy=True)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), size=n, replace=False)
    cols = rng.integers(0, X.shape[1], size=n)
    cols[:2] = 0
    X[rows, cols] = np.nan
    return X


def user_frame(
    X: np.ndarray, y: Sequence[Any], names: Sequence[str], target: str, id_column: str
) -> pd.DataFrame:
    """ID column first, then the features in the teacher's order, then the target."""
    frame = pd.DataFrame(X, columns=list(names))
    frame.insert(0, id_column, [f"U{1000 + 7 * i}" for i in range(len(frame))])
    frame[target] = list(y)
    return frame


def accuracy(pred: Sequence[Any], truth: Sequence[Any]) -> float:
    return float(np.mean(np.asarray(pred, dtype=object) == np.asarray(truth, dtype=object)))


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(truth, float)) ** 2)))


# ---------------------------------------------------------------------- torch helpers


def fit_torch(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    lr: float = 3e-3,
    batch: int = 64,
    seed: int = 0,
) -> nn.Module:
    """A plain Adam loop: the way a user trained their model, not potstill's loop."""
    torch.manual_seed(seed)
    xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    with one_thread():
        for _ in range(epochs):
            for idx in torch.randperm(len(xt)).split(batch):
                opt.zero_grad()
                loss(model(xt[idx]), yt[idx]).backward()
                opt.step()
    return model.eval()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Train on one thread: tiny models on a shared machine are slower on more."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Standardised(nn.Module):
    """An MLP that standardises its raw inputs itself (users ship the scaler in the graph)."""

    def __init__(self, X: np.ndarray, hidden: Sequence[int], n_out: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(X.mean(0), dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(X.std(0) + 1e-6, dtype=torch.float32))
        layers: list[nn.Module] = []
        width = X.shape[1]
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class Affine(nn.Module):
    """``x * std + mean`` on a one-column output: the target's own units back from a model
    trained on the standardised target. Defined here once, so a deployed model that holds
    it loads (or unpickles) from one importable path, ``builders.Affine``."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(1) * self.std + self.mean


def regression_mlp(
    X: np.ndarray, y: np.ndarray, hidden: Sequence[int], *, epochs: int, lr: float
) -> tuple[Standardised, nn.Sequential]:
    """A user's regression MLP (scaler inside) fitted on the training rows ``X``, ``y`` with
    the target standardised; returns the fitted MLP and the deployed model, which undoes
    the target's scaling (:class:`Affine`)."""
    mean, std = float(y.mean()), float(y.std())
    torch.manual_seed(0)
    model = Standardised(X, hidden, 1)
    fit_torch(model, X, (y - mean) / std, _mse, epochs=epochs, lr=lr)
    return model, nn.Sequential(model, Affine(mean, std)).eval()


def _mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(out.squeeze(1), target)


def as_chain(model: Standardised) -> nn.Sequential:
    """The same function as one ``nn.Sequential``: the scaler folded into a first Linear."""
    width = model.mean.numel()
    scaler = nn.Linear(width, width)
    with torch.no_grad():
        scaler.weight.copy_(torch.diag(1.0 / model.std))
        scaler.bias.copy_(-model.mean / model.std)
    return nn.Sequential(scaler, *model.net).eval()


class DigitsCNN(nn.Module):
    """A small CNN on (N, 1, 8, 8) digit images with raw 0-16 pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x / 16.0))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_scores(model: nn.Module, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=torch.float32)).numpy()


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Export with a dynamic batch axis by the legacy TorchScript-based exporter, as many
    users' export scripts still do (its deprecation warning is theirs, not potstill's)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            dynamo=False,
        )


def save_traced(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """``torch.jit.trace`` + save, the way TorchScript teachers are made (torch deprecates the
    format; the warning is the user's, not potstill's)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.jit.trace(model, example).save(str(path))


def onnx_run(path: Path, X: np.ndarray, output: int = 0) -> Any:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: X.astype(np.float32)})[output]
