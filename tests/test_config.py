"""Fleet YAML: valid files load, every kind of bad file is refused with file/field/value."""

from __future__ import annotations

from pathlib import Path

import pytest

from potstill.config import FleetConfig, GridEntry, load_fleet
from potstill.errors import ConfigError, MethodError, located_by_field
from potstill.evaluate.config import EvalConfig
from potstill.methods.objective import MethodSpec


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


VALID = """
name: t
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
grid: [scratch, kd, {label: kd+rkd, methods: [{name: kd}, {name: rkd, weight: 0.5}]}]
"""


def test_valid_file_and_shorthand_grid(tmp_path: Path) -> None:
    config = load_fleet(_write(tmp_path, VALID))
    assert [g.label for g in config.grid] == ["scratch", "kd", "kd+rkd"]
    assert config.grid[0].methods == []
    assert [m.name for m in config.grid[2].methods] == ["kd", "rkd"]
    assert config.grid[2].methods[1].weight == 0.5


def test_relative_paths_resolve_against_the_yaml_folder(tmp_path: Path) -> None:
    text = "systems:\n  - name: own\n    dataset: {path: data.csv, target: y}\n"
    config = load_fleet(_write(tmp_path, text))
    assert config.systems[0].dataset.path == tmp_path / "data.csv"


def test_default_grid_is_scratch_plus_one_method_per_family() -> None:
    config = FleetConfig.model_validate(
        {"systems": [{"name": "a", "dataset": {"builtin": "breast_cancer"}}]}
    )
    assert [g.label for g in config.grid] == ["scratch", "kd", "fitnet", "rkd"]
    kd = config.grid[1]
    assert [m.name for m in kd.for_problem("regression")] == ["kd_regression"]
    assert [m.name for m in kd.for_problem("classification")] == ["kd"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("systems: [\n  {name: a\n", r"malformed YAML at line \d+, column \d+"),
        ("- a\n- b\n", "top level must be a mapping"),
        (
            "systems:\n  - name: a\n    dataset: {builtin: x}\n    colour: red\n",
            r"systems\[0\]\.colour: unknown key",
        ),
        (
            "systems:\n  - name: a\n    dataset: {path: d.csv}\n",
            r"systems\[0\]\.dataset: 'target' is required",
        ),
        (
            "systems:\n  - name: a\n    dataset: {}\n",
            "exactly one of 'builtin', 'path' or 'images'",
        ),
        (
            "systems:\n  - name: Bad Name\n    dataset: {builtin: x}\n",
            r"systems\[0\]\.name: .*got 'Bad Name'",
        ),
        ("systems: []\n", "systems: List should have at least 1 item"),
        (
            "seed: -1\nsystems:\n  - {name: a, dataset: {builtin: x}}\n",
            r"seed: .*greater than or equal to 0.*\(got -1\)",
        ),
        (
            "systems:\n  - {name: a, dataset: {builtin: x}}\n  - {name: a, dataset: {builtin: y}}\n",
            "system names must be unique; repeated: a",
        ),
        (
            "train: {epochs: zero}\nsystems:\n  - {name: a, dataset: {builtin: x}}\n",
            r"train\.epochs: .*\(got 'zero'\)",
        ),
        (
            "bench: {server: false}\nsystems:\n  - {name: a, dataset: {builtin: x}}\n",
            r"bench\.server is false, but prices\.target_qps=200 and prices\.slo_ms=50",
        ),
        (
            "systems:\n  - {name: a, dataset: {builtin: x}, bench: {server: false}}\n",
            r"systems\[a\]\.bench\.server is false",
        ),
        (
            "systems:\n  - {name: a, dataset: {images: imgs, target: y}}\n",
            r"systems\[0\]\.dataset: 'target' do\(es\) not apply to images \(images='.*imgs'\)",
        ),
        (
            "systems:\n  - {name: a, dataset: {path: d.npz, text_column: t}}\n",
            r"'text_column' do\(es\) not apply to images",
        ),
        (
            "systems:\n  - {name: a, dataset: {path: d.csv, target: y, image_size: [8, 8]}}\n",
            "'image_size' applies to an 'images' folder only",
        ),
        (
            "systems:\n  - {name: a, dataset: {images: i, image_size: [8]}}\n",
            r"dataset\.image_size: List should have at least 2 items",
        ),
        (
            "systems:\n  - {name: a, dataset: {images: i, image_size: [8, 0]}}\n",
            r"dataset\.image_size: must be two sizes in \[1, 8192\] pixels \(got \[8, 0\]\)",
        ),
        (
            "systems:\n  - {name: a, dataset: {builtin: x}, teacher: {input_shape: [1, 8, 8]}}\n",
            r"systems\[0\]\.teacher: 'input_shape' describes a teacher file's inputs",
        ),
        (
            "systems:\n  - {name: a, dataset: {builtin: x}, teacher: {max_length: 64}}\n",
            r"'max_length' applies to text teachers .*got arch='ensemble'",
        ),
        (
            "systems:\n  - {name: a, dataset: {path: d.npz}, teacher: {path: m.onnx, input_shape: [0, 8]}}\n",
            r"teacher\.input_shape: must hold positive sizes, e\.g\. \[1, 28, 28\] \(got \[0, 8\]\)",
        ),
    ],
)
def test_bad_files_name_the_field_and_value(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_fleet(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Fleet file not found"):
        load_fleet(tmp_path / "nope.yaml")


def test_grid_entry_shorthand() -> None:
    assert GridEntry.model_validate("scratch").methods == []
    assert GridEntry.model_validate("dkd").methods[0].name == "dkd"


@pytest.mark.parametrize(
    "path", sorted(Path(__file__).parent.parent.glob("examples/*.yaml")), ids=lambda p: p.name
)
def test_example_fleets_validate(path: Path) -> None:
    config = load_fleet(path)
    assert config.systems


def test_builtin_fleets_validate() -> None:
    from potstill.runner import builtin_fleet

    full, quick = builtin_fleet(), builtin_fleet(quick=True)
    assert len(full.systems) >= 8 and {s.sector or "" for s in full.systems} == {""}
    assert {s.name for s in quick.systems} <= {s.name for s in full.systems}


def test_image_sources_resolve_relative_to_the_file(tmp_path: Path) -> None:
    text = (
        "systems:\n"
        "  - {name: a, dataset: {images: pics, image_size: [32, 24]},"
        " teacher: {path: cnn.onnx, input_shape: [3, 32, 24]}}\n"
        "  - {name: b, dataset: {path: d.npz, sensitive: group}, teacher: {path: cnn.pt}}\n"
        "  - {name: c, dataset: {path: r.csv, target: y, text_column: t},"
        " teacher: {path: bert, max_length: 256}}\n"
    )
    fleet = load_fleet(_write(tmp_path, text))
    a, b, c = fleet.systems
    assert a.dataset.images == tmp_path / "pics" and a.dataset.is_images
    assert a.dataset.image_size == [32, 24] and a.teacher.input_shape == [3, 32, 24]
    assert b.dataset.is_images and b.dataset.target is None and b.dataset.sensitive == "group"
    assert not c.dataset.is_images and c.teacher.max_length == 256


def test_split_classes_and_sensitive_fields(tmp_path: Path) -> None:
    text = (
        "systems:\n  - name: own\n    dataset: {path: data.csv, target: y, classes: [good, bad],"
        " split: {test: held/test.csv}, sensitive: sex}\n    teacher: {allow_weak: true}\n"
    )
    config = load_fleet(_write(tmp_path, text))
    ds = config.systems[0].dataset
    assert ds.split.test == tmp_path / "held" / "test.csv" and ds.split.mode == "test_file"
    assert ds.classes == ["good", "bad"] and ds.sensitive_is_feature is False
    assert config.systems[0].teacher.allow_weak is True


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("{builtin: breast_cancer, classes: [a, b]}", "'classes' and 'split' apply to a user's"),
        ("{path: d.csv, target: y, split: {test: t.csv, column: part}}", "at most one of"),
        ("{path: d.csv, target: y, split: {column: part, test_fraction: 0.3}}", "only applies"),
        ("{path: d.csv, problem: embedding, text_column: t, split: {column: p}}", "fractions only"),
        ("{path: d.csv, target: y, split: {val_fraction: 1.5}}", "less than 1"),
    ],
)
def test_bad_split_settings_are_refused(tmp_path: Path, dataset: str, expected: str) -> None:
    text = f"systems:\n  - name: own\n    dataset: {dataset}\n"
    with pytest.raises(ConfigError, match=expected):
        load_fleet(_write(tmp_path, text))


@pytest.mark.parametrize("label", ["../../../x", "/tmp/abs", "..", ".hidden", "a/b", "a\\b", ""])
def test_grid_labels_that_would_be_paths_are_refused(tmp_path: Path, label: str) -> None:
    text = VALID.replace(
        "grid: [scratch, kd,", f"grid: [scratch, {{label: {label!r}, methods: [{{name: kd}}]}},"
    )
    with pytest.raises(ConfigError, match=r"grid\[1\]\.label: must be 1-64 letters"):
        load_fleet(_write(tmp_path, text))


THREE = "systems:\n" + "".join(
    f"  - {{name: s{i}, dataset: {{builtin: breast_cancer}}{{extra{i}}}}}\n" for i in range(3)
)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("gates: {max_ece: 7}\n", r"  - gates\.max_ece: The 'max_ece' parameter of GatesConfig "
         r"must be <= 1\. Got 7\.0 instead\."),
        ("evaluate: {level: 3}\n", r"  - evaluate\.level: The 'level' parameter of EvalConfig"),
        ("", r"  - systems\[2\]\.evaluate\.n_resamples: The 'n_resamples' parameter of EvalConfig "
         r"must be >= 0\. Got -5 instead\."),
        ("grid: [{label: hot, methods: [{name: kd, params: {temperature: -1}}]}]\n",
         r"  - grid\[0\]\.methods\[0\]: The 'temperature' parameter of method 'kd' must be > 0"),
        ("grid: [{label: t, methods: [{name: kd, params: {temprature: 2}}]}]\n",
         r"  - grid\[0\]\.methods\[0\]: Method 'kd' has no parameter 'temprature'\. Valid "
         r"parameters: temperature\."),
    ],
)  # fmt: skip
def test_a_validators_own_range_check_names_the_file_and_field_path(
    tmp_path: Path, extra: str, expected: str
) -> None:
    """check_scalar in a field validator raises ConfigError, which pydantic does not locate;
    while a file is validated it is located like pydantic's own checks."""
    system2 = ", evaluate: {n_resamples: -5}" if not extra else ""
    text = THREE.replace("{extra0}", "").replace("{extra1}", "").replace("{extra2}", system2)
    path = _write(tmp_path, text + extra)
    with pytest.raises(ConfigError, match=expected) as info:
        load_fleet(path)
    assert str(info.value).startswith(f"{path}: 1 invalid setting(s):\n")
    assert not isinstance(info.value, ValueError)  # the loader's error is the plain class


def test_every_refused_field_of_a_file_is_listed(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID + "evaluate: {level: 3, n_resamples: -1}\ngates: {max_ece: 2}\n")
    with pytest.raises(ConfigError) as info:
        load_fleet(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 3 invalid setting(s):"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "- evaluate.level", "- evaluate.n_resamples", "- gates.max_ece"]  # fmt: skip


def test_direct_construction_still_raises_the_plain_error() -> None:
    """Outside a file's validation the same checks raise ConfigError/MethodError themselves,
    not a pydantic ValidationError (code and tests that build configs rely on it)."""
    with pytest.raises(ConfigError, match="'level' parameter of EvalConfig") as info:
        EvalConfig(level=3)
    assert type(info.value) is ConfigError
    with pytest.raises(MethodError, match="'temperature' parameter of method 'kd'") as method:
        MethodSpec(name="kd", params={"temperature": -1})
    assert type(method.value) is MethodError
    with located_by_field():
        assert isinstance(ConfigError("x"), ValueError)
    assert not isinstance(ConfigError("x"), ValueError)
