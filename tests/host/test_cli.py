"""The `handset` command line: argument errors and offline commands in-process (CliRunner), and the
pod commands against the real firmware (unix MicroPython) — including a real SIGINT during a bolus.
"""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from handset.cli import main
from system.podlink import PodProcess, free_port

HANDSET = [sys.executable, "-m", "handset"]


def run(args: list[str], state: Path, port: str | None = None, input: str | None = None):
    env = {"HANDSET_STATE": str(state)}
    if port:
        env["HANDSET_PORT"] = port
    return CliRunner().invoke(main, args, env=env, input=input, catch_exceptions=False)


class Listener:
    """A real TCP listener that counts connections: proves a refused command never reached the link.

    The kernel completes a connection without ``accept``; ``connections`` takes every pending one,
    so it is exact as soon as the command has returned (no waiting).
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self._count = 0

    @property
    def connections(self) -> int:
        import select
        while select.select([self.sock], [], [], 0)[0]:
            conn, _ = self.sock.accept()
            conn.close()
            self._count += 1
        return self._count

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


# ----------------------------------------------------------------------------------------------
# Offline: calculator, settings, basal programs


def test_calc_prints_the_arithmetic(tmp_path):
    result = run(["calc", "--carbs", "45", "--bg", "180"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "suggested bolus 4.20 U (meal 3.00 U, correction 1.20 U)" in " ".join(result.output.split())
    data = json.loads(run(["calc", "--carbs", "45", "--bg", "180", "--json"], tmp_path).stdout)
    assert data["suggested_pulses"] == 84 and data["steps_milliunits"]["correction"] == 1200


def test_calc_refuses_low_bg_and_bad_input(tmp_path):
    low = run(["calc", "--carbs", "30", "--bg", "65"], tmp_path)
    assert low.exit_code == 2 and "below the minimum for calculations" in low.output
    for args, words in ((["calc"], "needs --carbs"), (["calc", "--carbs", "300"], "out of range"),
                        (["calc", "--bg", "hi"], "not a whole number")):
        result = run(args, tmp_path)
        assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output


def test_settings_follow_their_ranges_and_persist(tmp_path):
    assert run(["settings", "set", "max_bolus", "8"], tmp_path).exit_code == 0
    assert run(["settings", "set", "dia", "3h30m"], tmp_path).exit_code == 0
    stored = (tmp_path / "settings.json").read_text()
    for args, words in ((["max_bolus", "31"], "out of range"), (["max_bolus", "0.03"], "multiple of 0.05"),
                        (["dia", "7h"], "out of range"), (["dia", "2h15m"], "out of range"),
                        (["target", "160"], "out of range"), (["correct_above", "115"], "below the target"),
                        (["nonsense", "1"], "no setting")):
        result = run(["settings", "set", *args], tmp_path)
        assert result.exit_code == 2 and words in result.output, result.output
    assert (tmp_path / "settings.json").read_text() == stored  # refused changes left nothing behind
    shown = json.loads(run(["settings", "show", "--json"], tmp_path).stdout)
    assert shown["max_bolus"] == 160 and shown["dia"] == 210


def test_basal_programs_offline(tmp_path):
    ok = run(["basal", "set", "day", "00:00=0.8,06:30=1.2,22:00=0.9"], tmp_path)
    assert ok.exit_code == 0 and "25.60 U per day" in ok.output
    shown = json.loads(run(["basal", "show", "day", "--json"], tmp_path).stdout)
    assert shown["programs"]["day"]["segments"] == "00:00=0.80,06:30=1.20,22:00=0.90"
    too_high = run(["basal", "set", "high", "00:00=3.5"], tmp_path)  # max basal defaults to 3 U/h
    assert too_high.exit_code == 2 and "above your max basal rate" in too_high.output
    for n in range(6):
        run(["basal", "set", f"p{n}", "00:00=1"], tmp_path)
    eighth = run(["basal", "set", "eighth", "00:00=1"], tmp_path)
    assert eighth.exit_code == 2 and "already 7 basal programs" in eighth.output
    missing = run(["basal", "show", "nope"], tmp_path)
    assert missing.exit_code == 2 and "no basal program 'nope'" in missing.output


@pytest.mark.parametrize("args, words", [
    (["bolus", "-1"], "negative"),
    (["bolus", "2.33"], "not a multiple of 0.05 U"),
    (["bolus", "two"], "not a number"),
    (["bolus", "10.05"], "above your max bolus of 10.00 U"),
    (["bolus", "31"], "above your max bolus"),
    (["bolus"], "Give the bolus amount"),
    (["bolus", "1", "--extended", "1"], "needs both --extended"),
    (["bolus", "1", "--extended", "1", "--over", "9h"], "out of range"),
    (["bolus", "6", "--extended", "4.05", "--over", "2h"], "above your max bolus"),
    (["temp-basal", "0.5", "45m"], "30-minute steps"),
    (["temp-basal", "0.5", "13h"], "out of range"),
    (["temp-basal", "3.05", "1h"], "above your max basal rate"),
    (["temp-basal", "200%", "1h"], "out of range"),
    (["temp-basal", "-0.5", "1h"], "negative"),
    (["temp-basal", "fast", "1h"], "not a number"),
    (["suspend", "--for", "3h"], "out of range"),
    (["basal", "use", "nope"], "no basal program"),
])
def test_bad_input_is_refused_before_anything_is_sent(tmp_path, listener, args, words):
    result = run(args, tmp_path, listener.url)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert listener.connections == 0


def test_unreachable_pod(tmp_path):
    result = run(["status"], tmp_path, f"socket://127.0.0.1:{free_port()}")
    assert result.exit_code == 3
    assert "Cannot open the link to the pod" in result.output and "check that the pod emulator is running" in result.output


def test_no_pod_paired(tmp_path, listener):
    result = run(["status"], tmp_path, listener.url)
    assert result.exit_code == 5 and "handset activate" in result.output
    assert listener.connections == 1  # the counter does see a connection (so 0 above means none)


def test_shell_runs_piped_commands(tmp_path):
    script = "calc --carbs 30 --bg 200\nbolus 2.33\nsettings show\nexit\n"
    proc = subprocess.run([*HANDSET, "shell", "--state", str(tmp_path)], input=script, capture_output=True,
                          text=True, timeout=30)
    assert "suggested bolus 3.60 U" in " ".join(proc.stdout.split()) and "max_bolus" in proc.stdout
    assert "not a multiple of 0.05 U" in proc.stderr
    assert proc.returncode == 0  # the last command (settings show) succeeded


# ----------------------------------------------------------------------------------------------
# Against the real firmware


def start_firmware(micropython: str, tmp_path: Path, clock: str, speed: int | None = None) -> tuple[PodProcess, str]:
    port = free_port()
    extra = ["--speed", str(speed)] if speed else []
    proc = PodProcess(micropython, tmp_path / "pod-state", ["--listen", f"127.0.0.1:{port}"], "listening on",
                      extra_args=extra, clock=clock)
    proc.wait_ready()
    return proc, f"socket://127.0.0.1:{port}"


@pytest.fixture
def virtual_pod(micropython, tmp_path):
    """The firmware on a virtual clock; the handset moves it with bench advances."""
    proc, url = start_firmware(micropython, tmp_path, "virtual")
    yield url
    proc.stop()
    assert "Traceback" not in proc.stderr(), proc.stderr()


@pytest.fixture
def fast_pod(micropython, tmp_path):
    """The firmware on a real clock running 20 times faster (a 5 U bolus takes 10 s of real time)."""
    proc, url = start_firmware(micropython, tmp_path, "real", 20)
    yield url
    proc.stop()
    assert "Traceback" not in proc.stderr(), proc.stderr()


def test_activate_status_temp_bolus_history(virtual_pod, tmp_path):
    state = tmp_path / "hs"
    activated = run(["activate"], state, virtual_pod)
    assert activated.exit_code == 0, activated.output
    assert "running basal program 'default'" in activated.output
    status = json.loads(run(["status", "--json"], state, virtual_pod).stdout)
    assert status["delivery"] & 1 and status["progress"] in (8, 9) and status["reservoir"] == 0x3FF
    temp = run(["temp-basal", "50%", "1h"], state, virtual_pod)
    assert temp.exit_code == 0 and "for 1h started" in temp.output, temp.output
    assert json.loads(run(["status", "--json"], state, virtual_pod).stdout)["delivery"] & 2
    before = json.loads(run(["status", "--json"], state, virtual_pod).stdout)["pulses_delivered"]
    bolus = run(["bolus", "1"], state, virtual_pod)
    assert bolus.exit_code == 0 and "Bolus done: 1.00 U delivered." in bolus.output, bolus.output
    after = json.loads(run(["status", "--json"], state, virtual_pod).stdout)
    assert after["pulses_delivered"] - before >= 20 and after["bolus_remaining"] == 0
    assert after["last_bolus"]["delivered_pulses"] == 20 and after["iob_pulses"] == 20
    # The calculator now subtracts that bolus (a manual bolus counts as correction IOB):
    # 30 g -> 40 pulses; BG 120 -> no correction; 20 pulses of correction IOB come off the meal -> 20.
    calc = json.loads(run(["calc", "--carbs", "30", "--bg", "120", "--json"], state).stdout)
    assert calc["suggested_pulses"] == 20
    history = run(["history", "--csv"], state, virtual_pod)
    rows = list(csv.reader(io.StringIO(history.stdout)))
    assert rows[0] == ["pod age", "pod", "category", "event", "detail"]
    assert ["delivery", "bolus", "1.00 U"] in [r[2:] for r in rows]
    assert ["delivery", "bolus done", "1.00 U delivered, 0.00 U not delivered"] in [r[2:] for r in rows]
    assert any(r[2:4] == ["delivery", "temp basal"] for r in rows)
    # The library's record of the command, shown with its settled outcome.
    assert any(r[2:4] == ["command", "bolus"] and r[4].startswith("confirmed;") and "pulses=20" in r[4] for r in rows), rows
    png = tmp_path / "h.png"
    assert run(["history", "--plot", str(png)], state, virtual_pod).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run(["cancel-temp"], state, virtual_pod).exit_code == 0
    assert run(["suspend", "--for", "30m"], state, virtual_pod).exit_code == 0
    assert json.loads(run(["status", "--json"], state, virtual_pod).stdout)["delivery"] == 0
    assert run(["resume"], state, virtual_pod).exit_code == 0
    assert run(["deactivate", "--yes"], state, virtual_pod).exit_code == 0
    assert run(["status"], state, virtual_pod).exit_code == 5


def test_faulted_pod_is_named(virtual_pod, tmp_path):
    state = tmp_path / "hs"
    assert run(["activate"], state, virtual_pod).exit_code == 0
    from handset.pod import PodClient
    with PodClient.open(virtual_pod, state) as client:
        client.bench("occlude", on=True)
        client.bolus(100)  # 5 U that cannot get out: more than the 3-5 U occlusion threshold
        client.bench("advance", ms=40 * 60_000)
    result = run(["status"], state, virtual_pod)
    assert result.exit_code == 4, result.output
    assert "The pod has faulted (" in result.output and "handset deactivate" in result.output
    history = run(["history", "--json"], state)
    assert any(r["event"] == "fault" for r in json.loads(history.output))


def read_stdout_until(proc: subprocess.Popen, text: str, timeout: float = 120.0) -> str:
    """Read the process's stdout (raw, unbuffered) until `text` appears; return what was read.

    Tests wait for the event they need, never for a fixed time: a loaded machine only makes this slower.
    """
    import select
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    end = time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < end and proc.poll() is None, f"no {text!r} in {seen.decode(errors='replace')!r}"
        if select.select([fd], [], [], 0.2)[0]:
            chunk = os.read(fd, 4096)
            assert chunk, f"stdout closed before {text!r}: {seen.decode(errors='replace')!r}"
            seen += chunk
    return seen.decode()


def test_ctrl_c_during_a_bolus_asks_then_cancels(fast_pod, tmp_path):
    state = tmp_path / "hs"
    env = dict(os.environ, HANDSET_STATE=str(state), HANDSET_PORT=fast_pod)
    assert subprocess.run([*HANDSET, "activate"], env=env, capture_output=True, timeout=60).returncode == 0
    proc = subprocess.Popen([*HANDSET, "bolus", "5"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # 5 U take 200 pod-seconds (10 s here): interrupt once the pod reports a first part delivered.
    seen = read_stdout_until(proc, "Bolus: 0.00 of 5.00 U\nBolus: ")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate("y\n", timeout=60)
    out = seen + out
    assert proc.returncode == 0, out + err
    assert "Cancel the bolus?" in err
    assert "Bolus cancelled:" in out and "of 5.00 U delivered" in out
    delivered = float(out.split("Bolus cancelled: ")[1].split(" U")[0])
    assert 0 < delivered < 5
    status = json.loads(subprocess.run([*HANDSET, "status", "--json"], env=env, capture_output=True,
                                       text=True, timeout=30).stdout)
    assert not status["delivery"] & 4 and status["last_bolus"]["delivered_pulses"] == round(delivered * 20)
    assert status["last_bolus"]["how"] == "cancelled"


def test_ctrl_c_then_no_keeps_delivering(fast_pod, tmp_path):
    state = tmp_path / "hs"
    env = dict(os.environ, HANDSET_STATE=str(state), HANDSET_PORT=fast_pod)
    assert subprocess.run([*HANDSET, "activate"], env=env, capture_output=True, timeout=60).returncode == 0
    proc = subprocess.Popen([*HANDSET, "bolus", "5"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = read_stdout_until(proc, "Bolus: 0.00 of 5.00 U")  # accepted; 10 s of delivery still to go
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate("n\n", timeout=60)
    out = seen + out
    assert proc.returncode == 0 and "Cancel the bolus?" in err, out + err
    assert "Bolus done: 5.00 U delivered." in out, out + err


def test_interactive_shell_on_a_pty(tmp_path):
    """The prompt_toolkit shell on a real pseudo-terminal: a command runs, history is kept, `exit` leaves."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell on the pty
        os.environ["HANDSET_STATE"] = str(tmp_path)
        os.execv(sys.executable, [*HANDSET, "shell"])
    output = b""

    def read_until(text: bytes, timeout: float = 15.0) -> None:
        nonlocal output
        end = time.monotonic() + timeout
        while text not in output:
            assert time.monotonic() < end, output.decode(errors="replace")
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    output += os.read(fd, 4096)
                except OSError:
                    break

    try:
        read_until(b"handset>")
        os.write(fd, b"\x1b[1;1R")  # answer prompt_toolkit's cursor-position request, as a terminal does
        os.write(fd, b"calc --carbs 45 --bg 180\r")
        read_until(b"4.20 U")
        output = b""
        read_until(b"handset>")
        os.write(fd, b"exit\r")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        os.close(fd)
    assert "calc --carbs 45 --bg 180" in (tmp_path / "shell-history").read_text()
