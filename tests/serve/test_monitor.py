"""The monitor's verdict on synthetic windows: drift, agreement and accuracy alarms."""

from __future__ import annotations

import numpy as np

from potstill.evaluate.drift import categorical_reference, numeric_reference
from potstill.evaluate.drift_calibration import calibrate
from potstill.serve.monitor import LiveRows, judge_window


def _ctx(rng: np.random.Generator) -> dict:
    x = rng.normal(size=2000)
    refs = {r.name: r for r in (numeric_reference("x", x),
                                categorical_reference("prediction:class", (x > 0).astype(int)))}  # fmt: skip
    study = {"teacher_agreement": {"value": 0.95, "low": 0.93, "high": 0.97}}
    return {"refs": refs, "names": ["x"], "study": study, "gate": 0.9, "alpha": 0.002}


def _window(x: np.ndarray, student: np.ndarray, teacher: np.ndarray, label: np.ndarray) -> LiveRows:
    n = len(x)
    return LiveRows(seq=np.arange(n), ts=np.arange(n, dtype=float), X=x[:, None], student=student,
                    score=np.full(n, 0.5), teacher=teacher, label=label)  # fmt: skip


def test_a_clean_window_passes_and_each_break_is_named() -> None:
    rng = np.random.default_rng(0)
    ctx = _ctx(rng)
    th = calibrate(list(ctx["refs"].values()), 300)
    x = rng.normal(size=300)
    y = (x > 0).astype(int)
    none = np.full(300, -1)
    clean = judge_window(0, _window(x, y, y, y), ctx, th)
    assert clean["alarms"] == [] and clean["agreement"]["value"] == 1.0
    flipped = np.where(rng.random(300) < 0.3, 1 - y, y)  # 70 % agreement, 70 % accuracy
    broken = judge_window(1, _window(x, y, flipped, flipped), ctx, th)
    assert [a.split()[0] for a in broken["alarms"]] == ["agreement", "accuracy"]
    shifted = judge_window(2, _window(x + 1.0, (x + 1 > 0).astype(int), none, none), ctx, th)
    assert any(a.startswith("drift x psi") for a in shifted["alarms"])
    assert any(a.startswith("drift prediction:class chi2") for a in shifted["alarms"])


def test_a_small_unlucky_sample_is_not_an_accuracy_alarm() -> None:
    rng = np.random.default_rng(1)
    ctx = _ctx(rng)
    th = calibrate(list(ctx["refs"].values()), 300)
    x = rng.normal(size=300)
    y = (x > 0).astype(int)
    label = np.full(300, -1)
    label[:20] = 1 - y[:20]  # 20 labels, 16 right: 0.8 < gate 0.9, but not credibly
    label[:16] = y[:16]
    result = judge_window(0, _window(x, y, np.full(300, -1), label), ctx, th)
    assert result["accuracy"]["value"] == 0.8 and result["alarms"] == []
