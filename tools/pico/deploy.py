"""Put the pod firmware on a Raspberry Pi Pico running MicroPython: `make deploy PORT=/dev/ttyACM0`.

    python tools/pico/deploy.py --port PORT [--options "--clock virtual"] [--fresh] [--wait SECONDS]

PORT is any pyserial URL (/dev/ttyACM0, or socket://127.0.0.1:N for the emulated Pico). Steps:
1. Reach the REPL. A running pod switches Ctrl-C off, but main.py waits 1 s after every reset for
   one: this sends Ctrl-C every 0.1 s until the REPL answers (press the board's reset button, or
   unplug and replug it, while it waits).
2. With mpremote (pinned in requirements.txt): remove the old /pod and /eros, copy the .mpy build
   (build/mpy, `make mpy`) and firmware/main.py, and write /pod-options.txt. The pod's state in
   /state stays unless --fresh is given.
3. Soft-reset the board (Ctrl-D at the REPL) so that main.py starts the new pod.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import serial

ROOT = Path(__file__).resolve().parents[2]
MPY_BUILD = ROOT / "build" / "mpy"
MAIN_PY = ROOT / "firmware" / "main.py"
STARTED = b"pod: starting"

# Run on the board before copying: the old code goes (stale modules must not linger); --fresh
# also erases the pod's state folder. A Ctrl-C that landed during _boot.py can leave the flash
# filesystem unmounted: mount it as _boot.py does.
_REMOVE = """import os
try:
    os.statvfs('/')
except OSError:
    try:
        import rp2
        os.mount(os.VfsLfs2(rp2.Flash(), progsize=256), '/')
    except OSError:
        pass
def rm(p):
    try:
        if os.stat(p)[0] & 0x4000:
            for n in os.listdir(p):
                rm(p + '/' + n)
            os.rmdir(p)
        else:
            os.remove(p)
    except OSError:
        pass
for p in %r:
    rm(p)
"""


# --fresh, after the copy: the journal lives in raw flash below littlefs (pod/hal/rp2flash.py),
# which removing /state does not reach; the pod's own store erases it.
_ERASE_JOURNAL = """from pod.hal.storage import FileStorage
from pod.store import Store
Store(FileStorage('/state')).erase()
"""


class DeployError(Exception):
    """A step of the deployment failed; the message says what to do."""


def reach_repl(port: str, wait: float) -> None:
    """Send Ctrl-C until the board's REPL prompt appears (a pod listens for it 1 s after reset)."""
    end = time.monotonic() + wait
    seen = b""
    with serial.serial_for_url(port, baudrate=115200, timeout=0.1) as link:
        while time.monotonic() < end:
            link.write(b"\r\x03")
            seen = (seen + link.read(4096))[-4096:]
            if b">>> " in seen or b"raw REPL" in seen:
                return
    raise DeployError(f"no REPL on {port} within {wait:.0f} s: press the board's reset button (or unplug "
                      "and replug it) while this waits, or give a longer --wait")


def mpremote(port: str, *args: str) -> None:
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise DeployError(f"mpremote failed ({' '.join(args[:3])} ...):\n{result.stdout}{result.stderr}")


def copy(port: str, options: str, fresh: bool, mpy: Path, main_py: Path) -> None:
    if not (mpy / "pod").is_dir() or not (mpy / "eros").is_dir():
        raise DeployError(f"the .mpy build is missing from {mpy}: run `make mpy` first")
    remove = ["/pod", "/eros"] + (["/state"] if fresh else [])
    with tempfile.TemporaryDirectory(prefix="pod-deploy-") as tmp:
        opts = Path(tmp) / "pod-options.txt"
        opts.write_text(options.strip() + "\n")
        mpremote(port, "exec", _REMOVE % (remove,),
                 "+", "fs", "cp", "-r", str(mpy / "pod"), str(mpy / "eros"), ":",
                 "+", "fs", "cp", str(main_py), ":main.py",
                 "+", "fs", "cp", str(opts), ":pod-options.txt",
                 *(["+", "exec", _ERASE_JOURNAL] if fresh else []))


def start_pod(port: str, wait: float) -> None:
    """Ctrl-D at the friendly REPL: a soft reset that runs main.py."""
    end = time.monotonic() + wait
    seen = b""
    with serial.serial_for_url(port, baudrate=115200, timeout=0.1) as link:
        link.write(b"\r\x02")  # leave the raw REPL if mpremote left the board there
        link.write(b"\x04")
        while time.monotonic() < end:
            seen = (seen + link.read(4096))[-4096:]
            if STARTED in seen:
                return
    raise DeployError(f"the pod did not start after the soft reset; the board said: {seen[-300:]!r}")


def deploy(port: str, options: str, fresh: bool = False, wait: float = 60.0,
           mpy: Path = MPY_BUILD, main_py: Path = MAIN_PY) -> None:
    """The three steps above; raises DeployError with a sentence saying what to do."""
    print(f"deploy: waiting for the REPL on {port} (reset the board if a pod is running) ...", flush=True)
    reach_repl(port, wait)
    print("deploy: copying the .mpy build, main.py and /pod-options.txt with mpremote ...", flush=True)
    copy(port, options, fresh, mpy, main_py)
    print("deploy: starting the pod ...", flush=True)
    start_pod(port, wait)
    print(f"deploy: done; the pod runs with options {options.strip() or '(none)'}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Put the pod firmware on a Pico (mpremote).")
    parser.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyACM0")
    parser.add_argument("--options", default="", help='the line for /pod-options.txt, e.g. "--clock virtual"')
    parser.add_argument("--fresh", action="store_true", help="erase the pod's state (/state) too")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the REPL (default 60)")
    args = parser.parse_args(argv)
    try:
        deploy(args.port, args.options, args.fresh, args.wait)
    except (DeployError, serial.SerialException, subprocess.TimeoutExpired) as e:
        print(f"deploy: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
