"""What `potstill serve`, `monitor` and `replay` refuse, and how they say it (no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from potstill.cli import main
from potstill.serve.monitor import parse_window
from potstill.serve.replay import check_loopback, parse_drift


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return int(info.value.code or 0), " ".join(err.split())


def _student(tmp_path: Path, schema: dict) -> Path:
    folder = tmp_path / "students" / "system" / "kd"
    (folder / "serving").mkdir(parents=True)
    (folder / "serving" / "schema.json").write_text(json.dumps(schema))
    return folder


def test_serve_refuses_a_folder_that_is_not_a_student(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "serve", str(tmp_path), "--port", "0")
    assert code == 2 and "no serving/schema.json" in err
    code, err = _run(capsys, "serve", str(tmp_path / "nope"), "--port", "0")
    assert code == 2 and "does not exist" in err


def test_serve_refuses_an_unservable_student_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _student(tmp_path, {"version": 1, "servable": False,
                                 "reason": "system 'adult' feeds its models encoded features"})  # fmt: skip
    code, err = _run(capsys, "serve", str(folder), "--port", "0")
    assert code == 2 and "cannot be served: system 'adult' feeds its models encoded" in err


def test_serve_refuses_an_onnx_file_that_is_not_the_measured_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _student(tmp_path, {"version": 1, "servable": True,
                                 "onnx": {"file": "student.onnx", "sha256": "0" * 64}})  # fmt: skip
    (folder / "serving" / "student.onnx").write_bytes(b"tampered")
    code, err = _run(capsys, "serve", str(folder), "--port", "0")
    assert code == 2 and "is not the file the study measured" in err


def test_serve_option_values_are_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "serve", str(tmp_path), "--shadow-rate", "1.5")
    assert code == 2 and "shadow_rate" in err and "1.5" in err


def test_replay_is_loopback_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("http://10.0.0.1:8000", "http://example.com", "ftp://127.0.0.1"):
        with pytest.raises(Exception, match="loopback"):
            check_loopback(url)
    assert check_loopback("http://127.0.0.1:9/") == "http://127.0.0.1:9"
    assert check_loopback("http://[::1]:9") == "http://[::1]:9"
    code, err = _run(capsys, "replay", str(tmp_path), "--data", "x.csv", "--url", "http://8.8.8.8")
    assert code == 2 and "loopback" in err


def test_replay_drift_and_monitor_window_are_parsed_or_refused() -> None:
    assert parse_drift("noise=2.0,shift=0.5") == {"noise": 2.0, "shift": 0.5}
    for bad in ("noise", "warp=1", "noise=-1", "noise=x"):
        with pytest.raises(Exception, match="name=amount"):
            parse_drift(bad)
    assert parse_window("500") == ("rows", 500)
    assert parse_window("1h") == ("seconds", 3600.0) and parse_window("30m") == ("seconds", 1800.0)
    for bad in ("5", "0m", "1 week", "-3"):
        with pytest.raises(Exception, match="--window"):
            parse_window(bad)


def test_monitor_refuses_a_store_without_traffic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "monitor", str(tmp_path / "none.db"))
    assert code == 2 and "does not exist" in err and not (tmp_path / "none.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    code, err = _run(capsys, "monitor", str(tmp_path / "empty.db"))
    assert code == 2 and "holds no potstill traffic" in err
    code, err = _run(capsys, "monitor", str(tmp_path / "none.db"), "--window", "3")
    assert code == 2 and "--window" in err


def test_the_listening_socket_says_tcp_so_nagle_is_turned_off() -> None:
    import socket

    from potstill.serve.server import bind

    sock = bind("127.0.0.1", 0)
    try:  # asyncio sets TCP_NODELAY only on sockets whose proto is TCP (40 ms stalls otherwise)
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
    finally:
        sock.close()
    with pytest.raises(Exception, match=r"Cannot listen on 256\.0\.0\.1:80"):
        bind("256.0.0.1", 80)
