"""Paths and the MicroPython command for tests: import these with `from testenv import ...`."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_OMNIPOD = Path(os.environ.get("EROS_SHARED", ROOT.parent / "shared")) / "omnipod"
FIRMWARE = ROOT / "firmware"
PROTOCOL = ROOT / "protocol"


def micropython_binary() -> str | None:
    """The unix-port `micropython` installed by the project's set-up (next to this Python)."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    return shutil.which("micropython")


def micropython_env() -> dict[str, str]:
    """Environment for running firmware or codec code under the unix port."""
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{FIRMWARE}:{PROTOCOL}:.frozen"
    return env


def run_check_script(script: Path, runtime: str) -> int:
    """Run a plain-assert check script under `runtime` ("micropython" or "cpython"); return its count.

    The script prints `OK <n> checks` on success and exits non-zero on the first failure.
    """
    if runtime == "micropython":
        exe = micropython_binary()
        assert exe, "the `micropython` command is missing: run `make setup`"
        argv, env = [exe], micropython_env()
    else:
        argv, env = [sys.executable], dict(os.environ, PYTHONPATH=f"{FIRMWARE}:{PROTOCOL}")
    result = subprocess.run(argv + [str(script)], env=env, capture_output=True, text=True, timeout=120,
                            cwd=str(ROOT))
    assert result.returncode == 0, f"{script.name} failed under {runtime}:\n{result.stdout}\n{result.stderr}"
    found = re.search(r"^OK (\d+) checks$", result.stdout, re.M)
    assert found, f"no summary line from {script.name} under {runtime}:\n{result.stdout}"
    return int(found.group(1))
