"""`python -m handset.demo` (what `make run` runs): start an emulated pod and use it like a person would.

It starts the firmware under the unix MicroPython (real clock, 60 times faster, bench enabled),
waits until it listens, activates it with the default basal program, sets a temp basal, gives a
1 U bolus with a progress bar, shows the status and the history, then leaves the pod running and
prints how to talk to it. Anything that fails is reported in one sentence.

However the demo ends — the end of the session with --no-wait, a failure, Ctrl-C (SIGINT), SIGTERM
or a closed terminal (SIGHUP), at any moment — it stops the pod process it started (which runs in
its own session, so that a Ctrl-C reaches only the demo) and says where it left its files.

Its pod-process helpers (micropython_binary, free_port, start_firmware, stop_pod) also start and
stop the virtual patient's pod (patient/podproc.py).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware" / "main.py"
READY_TEXT = "listening on"
READY_TIMEOUT_S = 15.0
INTERRUPTED_EXIT = 130  # what a handset command exits with after a Ctrl-C


#: Ctrl-C stays a KeyboardInterrupt (the handset's own handling, e.g. a bolus asks whether to
#: cancel); SIGTERM and SIGHUP end the demo wherever it is.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class DemoFailed(Exception):
    """A step of the demo failed; the message is the one line to show."""


class DemoStopped(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt, so that no handler of the
    handset's commands (which turn every Exception into a sentence) swallows it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _raise_stopped(signum: int, _frame: object) -> None:
    raise DemoStopped(signal.Signals(signum).name)


def micropython_binary(error: type[Exception] = DemoFailed) -> str:
    """The unix-port MicroPython next to this Python (the project's venv), or on PATH; raises
    ``error`` (the caller's kind of failure) with the sentence to show when there is none."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if found is None:
        raise error("The `micropython` command is missing: run `make setup` to install it.")
    return found


def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_firmware(args: list[str], log_path: Path, log_mode: str = "ab",
                   error: type[Exception] = DemoFailed) -> subprocess.Popen[bytes]:
    """Start FIRMWARE with ``args`` under the unix MicroPython, from the repository with the
    firmware's MICROPYPATH, stdin closed, its output to ``log_path`` (opened with ``log_mode``:
    "ab" or "wb"), in its own session (a Ctrl-C at the terminal reaches only the caller, which
    stops it with stop_pod). ``error`` is raised, as by micropython_binary, before the log is
    opened when the `micropython` command is missing; the caller checks that FIRMWARE exists."""
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{ROOT / 'firmware'}:{ROOT / 'protocol'}:.frozen"
    cmd = [micropython_binary(error), str(FIRMWARE), *args]
    with open(log_path, log_mode) as log:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=str(ROOT),
                                start_new_session=True)


def launch_pod(work: Path, port: int, speed: int) -> subprocess.Popen[bytes]:
    """Start the firmware in its own session (the demo handles Ctrl-C, then stops it); its log
    goes to work/pod.log. Call with the stop signals blocked, so that none lands between the
    start and the caller holding the process."""
    if not FIRMWARE.exists():
        raise DemoFailed(f"The firmware entry point {FIRMWARE} is missing: run the demo from the repository.")
    return start_firmware(["--listen", f"127.0.0.1:{port}", "--clock", "real", "--speed", str(speed), "--bench",
                           "--state", str(work / "pod")], work / "pod.log")


def wait_until_listening(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait for the pod's "listening on" line; DemoFailed when it stops or stays silent."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while READY_TEXT not in log_path.read_text(errors="replace"):
        if proc.poll() is not None:
            last = (log_path.read_text(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise DemoFailed(f"The pod emulator stopped at start-up ({last}): see {log_path}.")
        if time.monotonic() > deadline:
            raise DemoFailed(f"The pod emulator did not start listening within {READY_TIMEOUT_S:g} s: see {log_path}.")
        time.sleep(0.05)


def stop_pod(proc: subprocess.Popen[bytes]) -> None:
    """Stop the firmware: SIGINT (MicroPython's KeyboardInterrupt), then SIGTERM, then SIGKILL."""
    for sig, wait_s in ((signal.SIGINT, 3.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


def run(args: list[str], title: str) -> None:
    """Run one handset command in this process; a failure (its sentence was printed) stops the demo."""
    from handset.cli import main
    click.secho(f"\n$ handset {' '.join(args)}", bold=True)
    try:
        main.main(args=args, prog_name="handset", standalone_mode=False)
    except SystemExit as exc:
        if exc.code == INTERRUPTED_EXIT:  # the command turned a Ctrl-C into its exit code
            raise KeyboardInterrupt from None
        if exc.code not in (0, None):
            raise DemoFailed(f"The demo stopped: {title} failed (exit code {exc.code}, message above).") from None
    except click.exceptions.Abort:  # click's form of a Ctrl-C outside a command's own handling
        raise KeyboardInterrupt from None
    except click.ClickException as exc:
        raise DemoFailed(f"The demo stopped: {title} failed ({exc.format_message()}).") from None


def demo(work: Path, speed: int, keep_running: bool) -> None:
    """The whole scenario; raises DemoFailed with one line when a step fails, DemoStopped or
    KeyboardInterrupt when stopped. The pod is stopped before this returns or raises."""
    port = free_port()
    click.echo(f"Starting the emulated pod on 127.0.0.1:{port} (clock {speed}x real time, files in {work}) …")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS + (signal.SIGINT,))
    try:
        proc = launch_pod(work, port, speed)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a signal that came meanwhile lands here
        wait_until_listening(proc, work / "pod.log")
        url = f"socket://127.0.0.1:{port}"
        os.environ["HANDSET_PORT"] = url
        os.environ["HANDSET_STATE"] = str(work / "handset")
        os.environ.pop("HANDSET_POD_SPEED", None)  # the handset asks the pod's bench for its speed
        run(["activate"], "activating the pod")
        run(["temp-basal", "0.5", "1h"], "setting a temp basal")
        run(["bolus", "1"], "the 1 U bolus")
        run(["status"], "reading the status")
        run(["history"], "showing the history")
        click.echo()
        click.secho("The pod keeps running. In another terminal, talk to it with:", bold=True)
        click.echo(f"  export HANDSET_PORT={url} HANDSET_STATE={work / 'handset'}")
        click.echo("  .venv/bin/handset status        # or: .venv/bin/handset shell")
        click.echo(f"  (or give --port {url} --state {work / 'handset'} to each command)")
        if not keep_running:
            return
        click.echo(f"Press Ctrl-C here to stop the pod (process {proc.pid}).")
        while proc.poll() is None:
            time.sleep(0.5)
        raise DemoFailed(f"The pod emulator stopped by itself (exit code {proc.returncode}): see {work / 'pod.log'}.")
    finally:
        # Stopping takes at most a few seconds: a second Ctrl-C or signal must not cut it short.
        for sig in STOP_SIGNALS + (signal.SIGINT,):
            signal.signal(sig, signal.SIG_IGN)
        stop_pod(proc)


def files_left(work: Path) -> str:
    """One sentence saying where the demo's files are, naming those that exist."""
    parts = [(work / "pod.log", "the pod's log"), (work / "pod", "the pod's saved state"),
             (work / "handset", "the handset's state and history")]
    named = ", ".join(f"{path.name}{'/' if path.is_dir() else ''} ({what})" for path, what in parts if path.exists())
    return f"Its files are in {work}" + (f": {named}." if named else ".")


def _say(text: str, error: bool = False) -> None:
    """Print the last lines even when the terminal is gone (SIGHUP): they are also in no log, so
    failing to print must not turn a clean stop into a traceback."""
    try:
        click.secho(text, fg="red" if error else None, err=error)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m handset.demo", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--state", type=Path, default=None,
                        help="directory for the pod's and the handset's files (default: a new temporary one)")
    parser.add_argument("--speed", type=int, default=60, help="pod clock speed-up (default 60)")
    parser.add_argument("--no-wait", action="store_true", help="stop the pod at the end instead of leaving it running")
    options = parser.parse_args(argv)
    if options.state is not None:
        work = options.state.resolve()
        if (work / "handset" / "pod.json").exists() or (work / "pod").exists():
            click.secho(f"{work} already holds a demo pod: remove it or choose another --state.", fg="red", err=True)
            return 2
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="eros-demo-"))
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stopped)
    try:
        demo(work, options.speed, keep_running=not options.no_wait)
    except DemoFailed as exc:
        _say(str(exc), error=True)
        _say(f"{_stopped(work)}. {files_left(work)}")
        return 1
    except KeyboardInterrupt:
        _say(f"\n{_stopped(work)} (Ctrl-C). {files_left(work)}")
        return 0
    except DemoStopped as exc:
        _say(f"\n{_stopped(work)} ({exc.name}). {files_left(work)}")
        return 0
    _say(f"{_stopped(work)}. {files_left(work)}")
    return 0


def _stopped(work: Path) -> str:
    # The pod's log is opened just before the pod starts: without it no pod was started.
    return "Stopped the pod" if (work / "pod.log").exists() else "Stopped before the pod started"


if __name__ == "__main__":
    sys.exit(main())
