"""`potstill distill --transfer*`: the flags build the system's transfer section, their help
comes from its fields, and a bad combination is refused (exit 2, no traceback) before work."""

from __future__ import annotations

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
