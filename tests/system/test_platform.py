"""The pod's platform end to end: start-up, bench ops, link robustness, clocks, restarts.

Each test body runs against every selected target (tcp and pty by default, or a real device).
Pod behaviour (commands, delivery) is tested elsewhere; here the pod is only a passenger.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from eros.link import CH_BENCH, CH_LOG, CH_MESSAGE, cobs_encode, frame

from .podlink import MAIN, ROOT, PodLink, heap_of

HOUR_MS = 3_600_000


def virtual_only(pod: PodLink) -> dict:
    info = pod.bench_ok({"op": "info"})
    if info["clock"] != "virtual":
        pytest.skip("the device runs on its real clock")
    return info


def test_info_describes_clock_pod_and_link(pod: PodLink) -> None:
    info = pod.bench_ok({"op": "info"})
    assert info["clock"] in ("virtual", "real")
    assert isinstance(info["now_ms"], int)
    assert info["pod"]["lot"] == 42125 and info["pod"]["tid"] == 170175
    assert info["link"]["frames"] >= 1
    assert info["heap"]["used"] > 0 and info["heap"]["free"] > 0
    assert info["firmware"]["version"]


def test_advance_moves_virtual_time_exactly(pod: PodLink) -> None:
    start = virtual_only(pod)["now_ms"]
    r = pod.bench_ok({"op": "advance", "seconds": 90})
    assert r["now_ms"] == start + 90_000
    assert r["steps"] >= 1
    r = pod.bench_ok({"op": "advance", "ms": 1234})
    assert r["now_ms"] == start + 91_234
    assert pod.bench_ok({"op": "info"})["now_ms"] == start + 91_234  # nothing moves by itself
    time.sleep(0.2)
    assert pod.bench_ok({"op": "info"})["now_ms"] == start + 91_234
    assert r["deadline_ms"] is None or r["deadline_ms"] > r["now_ms"]


def test_eighty_hours_run_in_seconds(pod: PodLink) -> None:
    start = virtual_only(pod)["now_ms"]
    for _ in range(4):  # how long this takes is measured by `make bench`, not asserted here
        pod.bench_ok({"op": "advance", "seconds": 20 * 3600})
    assert pod.bench_ok({"op": "info"})["now_ms"] == start + 80 * HOUR_MS


@pytest.mark.parametrize("request_, words", [
    ({"op": "advance"}, "seconds"),
    ({"op": "advance", "seconds": -1}, "from 0"),
    ({"op": "advance", "seconds": 1.5}, "whole number"),
    ({"op": "advance", "seconds": "10"}, "whole number"),
    ({"op": "advance", "ms": True}, "whole number"),
    ({"op": "occlude"}, "on"),
    ({"op": "occlude", "on": 1}, "on"),
    ({"op": "beeps", "since": -3}, "since"),
    ({"op": "launch"}, "unknown op"),
    ({"op": 7}, "unknown op"),
    ({"no_op": 1}, "unknown op"),
])
def test_bad_bench_requests_get_a_sentence(pod: PodLink, request_: dict, words: str) -> None:
    virtual_only(pod)
    before = pod.bench_ok({"op": "info"})["now_ms"]
    r = pod.bench(request_)
    assert r["ok"] is False
    assert words in r["error"] and len(r["error"]) > 20
    assert pod.bench_ok({"op": "info"})["now_ms"] == before  # changed nothing


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b"\xff\xfe", b"", b"null", b'"info"'])
def test_malformed_bench_payloads_are_answered(pod: PodLink, payload: bytes) -> None:
    r = pod.bench_raw(payload)
    assert r["ok"] is False and "JSON" in r["error"]
    assert pod.bench_ok({"op": "info"})["ok"]


def test_plant_and_occlusion(pod: PodLink) -> None:
    plant = pod.bench_ok({"op": "plant"})
    assert plant["pushed"] == 0 and plant["occluded"] is False
    assert plant["reservoir_pulses"] == 200 * 20  # default --fill 200 U
    assert pod.bench_ok({"op": "occlude", "on": True})["occluded"] is True
    assert pod.bench_ok({"op": "plant"})["occluded"] is True
    assert pod.bench_ok({"op": "occlude", "on": False})["occluded"] is False


def test_fill_option_sets_the_reservoir(start_pod, target: str) -> None:
    link = start_pod(target, ["--fill", "85.35"])
    assert link.bench_ok({"op": "plant"})["reservoir_pulses"] == 1707


def test_reset_builds_a_new_pod_from_storage(pod: PodLink) -> None:
    before = pod.bench_ok({"op": "info"})
    r = pod.bench_ok({"op": "reset"})
    assert r["now_ms"] == before["now_ms"]  # the emulator's clock keeps running through a power cut
    assert r["pod"]["lot"] == before["pod"]["lot"]
    after = pod.bench_ok({"op": "info"})
    assert after["firmware"]["boots"] == before["firmware"]["boots"] + 1
    assert any("power cycle" in line for line in pod.logs)


def test_beeps_log_replies_and_pages(pod: PodLink) -> None:
    r = pod.bench_ok({"op": "beeps"})
    assert isinstance(r["count"], int) and r["next"] - r["first"] == len(r["beeps"])
    for ms, beep_type in r["beeps"]:
        assert isinstance(ms, int) and 0 <= beep_type <= 15
    later = pod.bench_ok({"op": "beeps", "since": r["count"] + 5})
    assert later["beeps"] == []


def test_garbage_on_the_link_is_survived_and_counted(pod: PodLink) -> None:
    before = pod.bench_ok({"op": "info"})["link"]
    junk = bytes(range(256)) * 3 + b"\x00" + os.urandom(3000).replace(b"\x00", b"\x01") + b"\x00"
    pod.send_raw(junk)
    pod.send_raw(cobs_encode(b"\x99hello") + b"\x00")                  # unknown channel
    pod.send_raw(cobs_encode(bytes([CH_BENCH]) + b"x" * 4000) + b"\x00")  # oversize
    # A frame cut short (no delimiter) merges with the next frame: both are lost, the one after
    # that is received.
    pod.send_raw(b"\x05\x01" + frame(CH_BENCH, b'{"op":"info"}'))
    r = pod.bench_ok({"op": "info"})
    assert pod.pending(CH_BENCH) == 0  # exactly one reply: the spoiled request got none
    link = r["link"]
    assert link["dropped_oversize"] > before["dropped_oversize"]
    assert link["dropped_channel"] > before["dropped_channel"]
    assert link["dropped_cobs"] + link["dropped_channel"] > before["dropped_cobs"] + before["dropped_channel"] + 1


def test_log_frames_from_the_handset_are_ignored(pod: PodLink) -> None:
    pod.send_frame(CH_LOG, b"hello pod")
    assert pod.bench_ok({"op": "info"})["ok"]


def test_messages_reach_the_pod_and_replies_come_back(pod: PodLink) -> None:
    from eros.message import build_message, parse_message
    before = pod.bench_ok({"op": "info"})["link"]["frames"]
    # AssignAddress, the first message of every activation, sent to the pairing address
    reply = pod.send_message(build_message(0xFFFFFFFF, 0, [{"type": 0x07, "address": 0x1F07B1EE}]))
    parsed = parse_message(reply)  # checks length and CRC
    assert parsed["blocks"][0]["type"] == 0x01
    assert pod.bench_ok({"op": "info"})["link"]["frames"] == before + 2  # the message and this request


def test_bad_crc_message_gets_no_reply(pod: PodLink) -> None:
    from eros.message import build_message
    msg = bytearray(build_message(0xFFFFFFFF, 0, [{"type": 0x07, "address": 0x1F07B1EE}]))
    msg[-1] ^= 0xFF
    pod.send_frame(CH_MESSAGE, bytes(msg))
    pod.bench_ok({"op": "info"})  # the reply to this proves the message was processed first
    assert pod.pending(CH_MESSAGE) == 0


@pytest.mark.targets("tcp", "pty")
def test_bench_is_off_without_the_option(start_pod, target: str) -> None:
    link = start_pod(target, bench=False)
    link.send_frame(CH_BENCH, b'{"op":"info"}')
    link.poll(0.5)
    assert link.pending(CH_BENCH) == 0


@pytest.mark.targets("tcp")
def test_tcp_newest_handset_replaces_a_silent_one(start_pod, target: str) -> None:
    """A client that connects and says nothing never locks the pod (issue 12 item 5): the next
    connection replaces it, the old one is closed (it reads end-of-file) and the pod logs it."""
    first = start_pod(target)
    first.bench_ok({"op": "advance", "seconds": 5})
    with PodLink(first.url, timeout=5.0) as second:
        assert second.bench_ok({"op": "info"})["now_ms"] == 5000
        assert second.bench_ok({"op": "info"})["connections"]["replaced"] == 1
        end = time.monotonic() + 5
        with pytest.raises(serial.SerialException):  # the old socket reads end-of-file
            while time.monotonic() < end:
                first.poll(0.05)
    if start_pod.processes:
        assert "replaces the old one" in start_pod.processes[-1].stderr()
    with PodLink(first.url) as third:  # and a later one is served as well
        assert third.bench_ok({"op": "info"})["now_ms"] == 5000


@pytest.mark.targets("tcp", "pty")
def test_restart_keeps_clock_plant_and_pod_files(start_pod, target: str, tmp_path: Path) -> None:
    state = tmp_path / "kept"
    link = start_pod(target, state_dir=state)
    link.bench_ok({"op": "advance", "seconds": 7200})
    link.bench_ok({"op": "occlude", "on": True})
    start_pod.processes[-1].stop()
    link.close()
    again = start_pod(target, state_dir=state)
    info = again.bench_ok({"op": "info"})
    assert info["now_ms"] == 7200 * 1000
    assert again.bench_ok({"op": "plant"})["occluded"] is True


@pytest.mark.targets("tcp", "pty")
def test_real_clock_runs_faster_with_speed(start_pod, target: str) -> None:
    link = start_pod(target, ["--speed", "1000"], clock="real")
    a = link.bench_ok({"op": "info"})
    assert a["clock"] == "real" and a["speed"] == 1000
    time.sleep(0.5)
    b = link.bench_ok({"op": "info"})
    assert 300_000 <= b["now_ms"] - a["now_ms"] <= 10_000_000
    r = link.bench({"op": "advance", "seconds": 1})
    assert r["ok"] is False and "virtual" in r["error"]


@pytest.mark.targets("tcp", "pty")
def test_real_clock_steps_the_pod_at_its_deadlines(start_pod, target: str) -> None:
    # 100,000 times real time: an hour of pod time passes every 36 ms. If the ticker did not run
    # pod.step on time, the first deadline would still be pending, far behind the clock.
    link = start_pod(target, ["--speed", "100000"], clock="real")
    first = link.bench_ok({"op": "info"})["deadline_ms"]
    assert first is not None
    time.sleep(0.5)
    info = link.bench_ok({"op": "info"})
    assert info["now_ms"] > first + 2 * HOUR_MS
    d = info["deadline_ms"]
    assert d != first  # the pod was stepped at its deadline ...
    assert d is None or d > info["now_ms"] - 10_000_000  # ... and has not fallen behind (0.1 s real)


@pytest.mark.targets("tcp", "pty")
def test_heap_report_and_small_heap(start_pod, target: str) -> None:
    link = start_pod(target, ["--heap-report"], heapsize="256k")  # see test_pod_e2e.SMALL_HEAP
    heap = heap_of(link)
    assert heap["used"] + heap["free"] <= 256 * 1024
    link.bench_ok({"op": "advance", "seconds": 3600})
    assert any(line.startswith("heap used=") for line in link.logs)


# ---- the process itself (not per target)

def run_firmware(micropython: str, *args: str, stdin: bytes = b"", timeout: float = 10) -> subprocess.CompletedProcess:
    env = dict(os.environ, MICROPYPATH=f"{ROOT / 'firmware'}:{ROOT / 'protocol'}:.frozen")
    return subprocess.run([micropython, str(MAIN), *args], input=stdin, capture_output=True,
                          timeout=timeout, env=env, cwd=str(ROOT))


@pytest.mark.parametrize("args, words", [
    (["--speed", "fast"], "--speed must be a whole number"),
    (["--fill", "12.34"], "multiple of 0.05"),
    (["--fill", "500"], "--fill must be from"),
    (["--fill", "2e2"], "--fill must be a number"),
    (["--listen", "7410"], "HOST:PORT"),
    (["--clock", "sundial"], "--clock must be real or virtual"),
    (["--clock", "virtual", "--speed", "10"], "--speed applies to the real clock"),
    (["--stdio", "--listen", "127.0.0.1:1"], "choose one link"),
    (["--lot"], "--lot needs a value"),
    (["--frobnicate"], "unknown option"),
    (["--serial", "/nonexistent/tty"], "cannot open the serial device"),
])
def test_bad_options_give_one_line_errors(micropython: str, tmp_path: Path, args: list[str], words: str) -> None:
    r = run_firmware(micropython, "--state", str(tmp_path / "s"), *args)
    err = r.stderr.decode()
    assert r.returncode != 0
    assert words in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_lists_every_option(micropython: str) -> None:
    r = run_firmware(micropython, "--help")
    assert r.returncode == 0
    for opt in ("--listen", "--serial", "--stdio", "--clock", "--speed", "--lot", "--tid", "--fill",
                "--state", "--bench", "--heap-report"):
        assert opt in r.stdout.decode()


def test_stdio_link(micropython: str, tmp_path: Path) -> None:
    from eros.link import Deframer
    requests = frame(CH_BENCH, b'{"op":"advance","seconds":60}') + frame(CH_BENCH, b'{"op":"plant"}')
    r = run_firmware(micropython, "--stdio", "--bench", "--clock", "virtual", "--state", str(tmp_path / "s"),
                     stdin=requests)
    assert r.returncode == 0, r.stderr.decode()
    replies = [json.loads(p) for ch, p in Deframer().feed(r.stdout) if ch == CH_BENCH]
    assert [x["ok"] for x in replies] == [True, True]
    assert replies[0]["now_ms"] == 60_000 and "pushed" in replies[1]


def test_runs_from_compiled_mpy(micropython: str, tmp_path: Path) -> None:
    out = tmp_path / "mpy"
    build = subprocess.run([sys.executable, str(ROOT / "tools" / "build_mpy.py"), str(out)],
                           capture_output=True, timeout=120)
    assert build.returncode == 0, build.stderr.decode()
    assert (out / "pod" / "app.mpy").exists() and (out / "eros" / "link.mpy").exists()
    env = dict(os.environ, MICROPYPATH=str(out))
    r = subprocess.run([micropython, str(MAIN), "--stdio", "--bench", "--clock", "virtual", "--state",
                        str(tmp_path / "s")], input=frame(CH_BENCH, b'{"op":"info"}'), capture_output=True,
                       timeout=20, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr.decode()
    from eros.link import Deframer
    (ch, payload), = [f for f in Deframer().feed(r.stdout) if f[0] == CH_BENCH]
    assert json.loads(payload)["firmware"]["core_file"].endswith(".mpy")
