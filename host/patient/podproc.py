"""One emulated pod for one run: the real firmware on the unix MicroPython, virtual clock, bench on."""
from __future__ import annotations

import time
from pathlib import Path

from handset.demo import FIRMWARE, free_port, start_firmware, stop_pod
from handset.errors import HandsetError

READY_TEXT = "listening on"
READY_TIMEOUT_S = 30.0


class VirtualPod:
    """The firmware listening on a free local port, its clock moved only by bench `advance`."""

    def __init__(self, work: Path) -> None:
        if not FIRMWARE.exists():
            raise HandsetError(f"The firmware {FIRMWARE} is missing: run the simulation from the repository.")
        work = work.resolve()  # the pod runs from the repository: a relative folder would land there
        work.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "pod.log"
        for attempt in range(3):  # another process may take the free port before the pod binds it
            self.port = free_port()
            self.proc = start_firmware(["--listen", f"127.0.0.1:{self.port}", "--clock", "virtual", "--bench",
                                        "--state", str(work / "pod")], self.log_path, "wb", HandsetError)
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
        stop_pod(self.proc)

    def __enter__(self) -> "VirtualPod":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
