"""`python -m handset.demo` (what `make run` runs): start an emulated pod and use it like a person would.

It starts the firmware under the unix MicroPython (real clock, 60 times faster, bench enabled),
waits until it listens, activates it with the default basal program, sets a temp basal, gives a
1 U bolus with a progress bar, shows the status and the history, then leaves the pod running and
prints how to talk to it. Ctrl-C stops the pod. Anything that fails is reported in one sentence.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
READY_TEXT = "listening on"
READY_TIMEOUT_S = 15.0


class DemoFailed(Exception):
    """A step of the demo failed; the message is the one line to show."""


def micropython_binary() -> str:
    """The unix-port MicroPython next to this Python (the project's venv), or on PATH."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if found is None:
        raise DemoFailed("The `micropython` command is missing: run `make setup` to install it.")
    return found


def free_port() -> int:
    """A TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_pod(work: Path, port: int, speed: int) -> subprocess.Popen[bytes]:
    """Start the firmware and wait until it listens; its log goes to work/pod.log."""
    firmware = ROOT / "firmware" / "main.py"
    if not firmware.exists():
        raise DemoFailed(f"The firmware entry point {firmware} is missing: run the demo from the repository.")
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{ROOT / 'firmware'}:{ROOT / 'protocol'}:.frozen"
    log_path = work / "pod.log"
    cmd = [micropython_binary(), str(firmware), "--listen", f"127.0.0.1:{port}", "--clock", "real",
           "--speed", str(speed), "--bench", "--state", str(work / "pod")]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=str(ROOT),
                                start_new_session=True)  # our Ctrl-C is handled here, then the pod is stopped
    deadline = time.monotonic() + READY_TIMEOUT_S
    while READY_TEXT not in log_path.read_text(errors="replace"):
        if proc.poll() is not None:
            last = (log_path.read_text(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise DemoFailed(f"The pod emulator stopped at start-up ({last}): see {log_path}.")
        if time.monotonic() > deadline:
            stop_pod(proc)
            raise DemoFailed(f"The pod emulator did not start listening within {READY_TIMEOUT_S:g} s: see {log_path}.")
        time.sleep(0.05)
    return proc


def stop_pod(proc: subprocess.Popen[bytes]) -> None:
    """Stop the firmware: SIGINT (MicroPython's KeyboardInterrupt), then SIGTERM, then SIGKILL."""
    import signal
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
        if exc.code not in (0, None):
            raise DemoFailed(f"The demo stopped: {title} failed (exit code {exc.code}, message above).") from None
    except click.ClickException as exc:
        raise DemoFailed(f"The demo stopped: {title} failed ({exc.format_message()}).") from None


def demo(work: Path, speed: int, keep_running: bool) -> None:
    """The whole scenario; raises DemoFailed with one line when a step fails."""
    port = free_port()
    click.echo(f"Starting the emulated pod on 127.0.0.1:{port} (clock {speed}x real time, files in {work}) …")
    proc = start_pod(work, port, speed)
    try:
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
        click.echo("Press Ctrl-C here to stop the pod.")
        while proc.poll() is None:
            time.sleep(0.5)
        raise DemoFailed(f"The pod emulator stopped by itself (exit code {proc.returncode}): see {work / 'pod.log'}.")
    finally:
        stop_pod(proc)


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
    try:
        demo(work, options.speed, keep_running=not options.no_wait)
    except DemoFailed as exc:
        click.secho(str(exc), fg="red", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("\nStopped the pod.")
        return 0
    click.echo("Stopped the pod.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
