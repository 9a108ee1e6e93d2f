"""measure(): runtimes, interleaving, stopping rules, footprint, skips and refusals.

Timings are never asserted: only what the harness must have done to produce them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from potstill.costs import BenchConfig, BenchTarget, measure
from potstill.errors import BenchError


def test_teacher_student_and_black_box_on_every_runtime(
    teacher: nn.Module, student: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    clf = LogisticRegression().fit(rows, (rows[:, 0] > 0).astype(int))
    threads_before = torch.get_num_threads()
    profiles = measure(
        [BenchTarget("teacher", teacher, None, rows), BenchTarget("student", student, None, rows),
         BenchTarget("lr", None, clf.predict_proba, rows)], quick)  # fmt: skip
    assert torch.get_num_threads() == threads_before  # thread setting restored
    by_key = {(p.model, p.runtime): p for p in profiles}
    assert list(by_key) == [
        ("lr", "native"), ("teacher", "eager"), ("student", "eager"), ("teacher", "onnx"),
        ("student", "onnx"), ("teacher", "onnx-int8"), ("student", "onnx-int8")]  # fmt: skip
    rotation = profiles[0].settings["interleave"]["rotation"]
    assert rotation == [f"{m}/{r}" for m, r in by_key]  # teacher and student alternate
    for p in profiles:
        assert p.settings["threads"] == 1 and p.environment["threads"] == 1
        assert p.latency.n >= quick.min_calls
        assert p.extra["timed_seconds"] >= quick.min_seconds
        assert p.extra["stop_reason"] == "both_rules_met"
        assert p.latency.n == p.extra["samples"]["n"]
        assert [s["batch_size"] for s in p.extra["offline_sweep"]] == [1, 8]
        assert p.throughput_batch in (1, 8) and p.throughput > 0
        assert p.extra["energy"]["method"] in ("rapl", "estimate")
        assert p.extra["server"]["slo_ms"] == quick.slo_ms
        assert ("p99" in p.latency.unreliable) == (p.latency.n < 662)  # the guard is applied
    t = by_key[("teacher", "eager")]
    assert t.params == 8 * 32 + 32 + 32 * 3 + 3
    assert t.flops_per_sample == 2 * (8 * 32 + 32 * 3)  # two Linear layers, batch 1
    assert t.extra["flops"]["ops_not_counted"] == ["aten.relu"]
    assert t.bytes_on_disk is not None and t.bytes_on_disk > 4 * t.params
    onnx_notes = by_key[("student", "onnx")].extra["runtime_notes"]
    assert onnx_notes["validation"]["agreement"] == 1.0
    int8_notes = by_key[("student", "onnx-int8")].extra["runtime_notes"]
    assert int8_notes["quantization"]["weight_type"] == "QInt8"
    assert int8_notes["agreement_vs_eager"]["gated"] is False
    assert (
        by_key[("lr", "native")].params == 0 and by_key[("lr", "native")].flops_per_sample is None
    )


def test_blocks_alternate_between_models_in_one_process(rows: np.ndarray) -> None:
    log: list[str] = []

    def logger(name: str):  # type: ignore[no-untyped-def]
        return lambda x: log.append(name) or np.zeros((len(x), 2))

    # Contention re-timing off: a re-timed block would repeat its calls in the log.
    config = BenchConfig.quick(min_calls=16, min_seconds=0.0, block_calls=4, batch_sizes=(1,),
                               server=False, contention={"min_cpu_ratio": 0.0})  # fmt: skip
    profiles = measure([BenchTarget("A", None, logger("A"), rows),
                        BenchTarget("B", None, logger("B"), rows)], config)  # fmt: skip
    # First call of each after building, then 10 warm-up calls each, then timed blocks.
    start = 2 + 2 * config.warmup
    assert log[:start] == ["A", "B"] + ["A"] * 10 + ["B"] * 10
    assert log[start:] == (["A"] * 4 + ["B"] * 4) * 4
    assert profiles[0].settings["interleave"]["blocks"] == {"A/native": 4, "B/native": 4}
    assert "server" not in profiles[0].extra


def test_unbuildable_runtime_is_skipped_with_its_reason(
    rows: np.ndarray, quick: BenchConfig
) -> None:
    class DataDependent(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if x.sum() > 0 else -x

    profiles = measure([BenchTarget("dd", DataDependent(), None, rows)], quick)
    assert [p.runtime for p in profiles] == ["eager"]
    reasons = profiles[0].settings["skipped_runtimes"]
    assert set(reasons) == {"onnx", "onnx-int8"} and "Cannot export" in reasons["onnx"]


def test_memory_probe_serves_in_a_fresh_process(
    teacher: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    config = quick.model_copy(update={"memory": True, "memory_calls": 3})
    profiles = measure([BenchTarget("t", teacher, None, rows)], config.model_copy(
        update={"runtimes": ("eager", "onnx")}))  # fmt: skip
    for p in profiles:
        fresh = p.extra["cold_start"]["fresh_process"]
        assert fresh is not None, p.extra["cold_start"].get("fresh_process_error")
        assert p.peak_memory_mb == max(fresh["vm_hwm_mb"], fresh["peak_rss_mb_sampled"])
        assert fresh["vm_hwm_mb"] >= fresh["baseline_rss_mb"] > 0
        assert fresh["load_s"] > 0 and fresh["first_call_ms"] > 0 and fresh["calls"] == 4
    kinds = [p.extra["cold_start"]["fresh_process"]["kind"] for p in profiles]
    assert kinds == ["pt2", "onnx"]


def test_targets_are_checked_before_anything_runs(
    teacher: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    with pytest.raises(BenchError, match="has 4 rows but the largest batch size is 8"):
        measure([BenchTarget("t", teacher, None, rows[:4])], quick)
    with pytest.raises(BenchError, match=r"must be float32\. Got float64"):
        measure([BenchTarget("t", teacher, None, rows.astype(np.float64))], quick)
    with pytest.raises(BenchError, match=r"unique. Got duplicates \['t'\]"):
        measure([BenchTarget("t", teacher, None, rows)] * 2, quick)
    with pytest.raises(BenchError, match="has nothing to run"):
        measure([BenchTarget("t", None, None, rows)], quick)
    with pytest.raises(BenchError, match="No targets"):
        measure([], quick)

    def broken(x: np.ndarray) -> np.ndarray:
        raise ValueError("boom")

    with pytest.raises(BenchError, match=r"'b' failed on runtime 'native'.*ValueError: boom"):
        measure([BenchTarget("b", None, broken, rows)], quick)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_path_times_with_events_and_reports_device_memory(
    teacher: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    config = quick.model_copy(update={"device": "cuda", "runtimes": ("eager",)})
    (profile,) = measure([BenchTarget("t", teacher, None, rows)], config)
    assert profile.settings["timer"] == "cuda_event" and profile.environment["gpu"]
    assert profile.extra["cuda_memory"]["peak_allocated_mb"] > 0


def test_cuda_without_a_device_is_refused(
    teacher: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(BenchError, match="no CUDA device"):
        measure(
            [BenchTarget("t", teacher, None, rows)], quick.model_copy(update={"device": "cuda"})
        )


@pytest.mark.slow
def test_compile_runtime_is_validated_or_skipped_with_reason(
    teacher: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    config = quick.model_copy(update={"runtimes": ("eager", "compile")})
    profiles = measure([BenchTarget("t", teacher, None, rows)], config)
    runtimes = [p.runtime for p in profiles]
    if "compile" in runtimes:
        assert profiles[1].extra["runtime_notes"]["validation"]["agreement"] == 1.0
    else:
        assert "torch.compile" in profiles[0].settings["skipped_runtimes"]["compile"]


def test_memory_probe_only_for_the_listed_runtimes() -> None:
    import numpy as np
    import torch

    from potstill.costs import BenchConfig, BenchTarget, measure
    from potstill.models import MLP

    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    target = BenchTarget(name="m", module=MLP(4, [8], 2), example=X)
    cfg = BenchConfig.quick(memory=True, runtimes=("eager", "onnx"), memory_runtimes=("onnx",))
    by_runtime = {p.runtime: p for p in measure([target], cfg)}
    assert by_runtime["eager"].peak_memory_mb is None
    assert "memory_runtimes" in by_runtime["eager"].extra["cold_start"]["fresh_process_error"]
    assert by_runtime["onnx"].peak_memory_mb is not None and by_runtime["onnx"].peak_memory_mb > 0


def test_a_crash_in_the_memory_probe_is_recorded_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from potstill.costs import harness
    from potstill.models import MLP

    class SpecViolationError(Exception):  # what torch.export raised on a TorchScript teacher
        pass

    def export_pt2(*args: object, **kwargs: object) -> None:
        raise SpecViolationError("State dict entry for parameter module.net.0.weight ...")

    monkeypatch.setattr(harness, "export_pt2", export_pt2)
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    target = BenchTarget(name="m", module=MLP(4, [8], 2), example=X)
    cfg = BenchConfig.quick(memory=True, runtimes=("eager",), memory_runtimes=("eager",))
    (profile,) = measure([target], cfg)
    assert profile.peak_memory_mb is None and profile.latency.n > 0
    reason = profile.extra["cold_start"]["fresh_process_error"]
    assert "SpecViolationError: State dict entry" in reason


def test_kept_exports_are_named_and_re_scored_from_the_file(
    rows: np.ndarray, teacher: nn.Module, quick: BenchConfig, tmp_path: Path
) -> None:
    from potstill.costs import runtime_predictor, saved_predictor

    kept = quick.model_copy(update={"export_dir": tmp_path})
    target = BenchTarget("t", teacher, None, rows)
    by = {p.runtime: p for p in measure([target], kept)}
    for runtime in ("onnx", "onnx-int8"):
        artefact = by[runtime].extra["artefact"]
        assert artefact.startswith(str(tmp_path)) and artefact.endswith(".onnx")
        predict = saved_predictor(by[runtime])
        assert predict is not None
        np.testing.assert_allclose(
            predict(rows), runtime_predictor(target, runtime)(rows), rtol=1e-5, atol=1e-5
        )
    assert "artefact" not in by["eager"].extra
    assert saved_predictor(by["eager"]) is None
    temporary = {p.runtime: p for p in measure([target], quick)}  # files gone with the session
    assert "artefact" not in temporary["onnx"].extra
