"""MLflow tracking against a real local store (SQLite backend, a local artifact folder).

One run per record, with the settings as parameters, the measured figures as metrics and
the record and student as artifacts; a broken store costs no record, and a rerun logs what
is missing without logging anything twice.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from _fleet import FLEET, records

from potstill.config import load_fleet
from potstill.runner import run_study

mlflow = pytest.importorskip("mlflow")
# MLflow's SQLite store uses a loader SQLAlchemy 2.1 deprecates (a third-party warning).
pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")

ONE_SYSTEM = FLEET[: FLEET.index("  - name: cs")]


def _fleet(folder: Path, store: str, artifacts: Path) -> Path:
    path = folder / "fleet.yaml"
    path.write_text(
        ONE_SYSTEM + f"tracking: {{mlflow: '{store}', artifact_location: '{artifacts}'}}\n"
    )
    return path


def _runs(store: str) -> list:  # type: ignore[type-arg]
    client = mlflow.tracking.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("scale")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


def test_each_record_is_one_run_and_a_broken_store_loses_no_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, artifacts = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts"
    artifacts.write_text("a file where the artifact folder should be")  # every upload fails
    out = tmp_path / "study"
    with caplog.at_level(logging.WARNING, logger="potstill.runner"):
        result = run_study(load_fleet(_fleet(tmp_path, store, artifacts)), out)
    assert result.exit_code == 0 and result.new_records == 2
    assert len(records(out)) == 2  # the records are all there
    assert sum("MLflow tracking of" in r.getMessage() for r in caplog.records) == 2
    assert not [r for r in _runs(store) if "potstill.record_digest" in r.data.tags]

    artifacts.unlink()  # the store works again: the rerun logs what is missing
    for _ in range(2):  # and a second rerun logs nothing twice
        again = run_study(load_fleet(_fleet(tmp_path, store, artifacts)), out)
        assert again.new_records == 0
        runs = _runs(store)
        assert len(runs) == 2, [r.info.run_name for r in runs]

    by_method = {r.data.tags["potstill.method"]: r for r in runs}
    assert set(by_method) == {"scratch", "kd"}
    for method, run in by_method.items():
        record = json.loads((out / "records" / f"bc__{method}.json").read_text())
        assert run.info.status == "FINISHED"
        assert run.data.params["cell.label"] == method
        assert run.data.params["train.epochs"] == "4"
        assert run.data.params["dataset.builtin"] == "breast_cancer"
        assert run.data.metrics["retention"] == record["quality"]["retention"]["value"]
        assert run.data.metrics["cost_reduction"] == record["costs"]["reduction"]
        assert any(k.startswith("latency_ms/teacher/eager") for k in run.data.metrics)
        logged = {p.name for p in (artifacts / run.info.run_id / "artifacts").iterdir()}
        assert logged == {"record", "student"}
        saved = artifacts / run.info.run_id / "artifacts" / "record" / f"bc__{method}.json"
        assert json.loads(saved.read_text()) == record


def test_tracking_without_mlflow_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from potstill.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow fails
    fleet = load_fleet(_fleet(tmp_path, "sqlite:///x.db", tmp_path / "a"))
    with pytest.raises(MissingDependencyError, match=r"potstill\[mlflow\]"):
        run_study(fleet, tmp_path / "out")
    assert not (tmp_path / "out").exists()
