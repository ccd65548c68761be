"""Paths and the MicroPython command for tests: import these with `from testenv import ...`."""
from __future__ import annotations

import os
import shutil
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
