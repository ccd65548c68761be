"""One emulated pod for one run: the real firmware on the unix MicroPython, virtual clock, bench on."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from handset.errors import HandsetError

ROOT = Path(__file__).resolve().parents[2]
READY_TEXT = "listening on"
READY_TIMEOUT_S = 30.0


def micropython_binary() -> str:
    """The unix-port MicroPython next to this Python (the project's venv), or on PATH."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if found is None:
        raise HandsetError("The `micropython` command is missing: run `make setup` to install it.")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VirtualPod:
    """The firmware listening on a free local port, its clock moved only by bench `advance`."""

    def __init__(self, work: Path) -> None:
        firmware = ROOT / "firmware" / "main.py"
        if not firmware.exists():
            raise HandsetError(f"The firmware {firmware} is missing: run the simulation from the repository.")
        work = work.resolve()  # the pod runs from the repository: a relative folder would land there
        work.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "pod.log"
        env = dict(os.environ)
        env["MICROPYPATH"] = f"{ROOT / 'firmware'}:{ROOT / 'protocol'}:.frozen"
        for attempt in range(3):  # another process may take the free port before the pod binds it
            self.port = _free_port()
            cmd = [micropython_binary(), str(firmware), "--listen", f"127.0.0.1:{self.port}", "--clock", "virtual",
                   "--bench", "--state", str(work / "pod")]
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                             cwd=str(ROOT), start_new_session=True)
            if self._wait_ready():
                return
        raise HandsetError(f"The pod emulator did not start: see {self.log_path}.")

    @property
    def url(self) -> str:
        """The handset's link URL."""
        return f"socket://127.0.0.1:{self.port}"

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while READY_TEXT not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                self.stop()
                return False
            time.sleep(0.02)  # polling the log for the ready line, not timing the pod
        return True

    def stop(self) -> None:
        """SIGINT (MicroPython's KeyboardInterrupt), then SIGTERM, then SIGKILL."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                return
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "VirtualPod":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
