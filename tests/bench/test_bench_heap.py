"""Benchmarks 2 and 3: heap use.

2. The smallest `micropython -X heapsize` with which the firmware (from .mpy and from source) passes
   the whole scenario (activation, 3 days of boluses, temp basals and exact status checks, the 80 h
   fault): a bisection over 2 KB steps, each try a fresh process.
3. The heap the pod's own data takes (heap_probe.py, run under micropython from build/mpy).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchlib import MPY_PATH, ROOT, micropypath, micropython_version, record, running_pod
from scenario import Run, three_days

LOW_KB, PICO_KB, MAX_KB, STEP_KB = 16, 192, 1024, 2
PROBE = Path(__file__).with_name("heap_probe.py")


def _passes(micropython: str, state_dir: Path, build: str, kb: int) -> tuple[bool, str]:
    """The whole scenario in a fresh process with a heap of kb KB; (passed, why not)."""
    try:
        with running_pod(micropython, state_dir, build=build, heapsize=f"{kb}k", timeout=10.0) as (link, proc):
            run = Run(link)
            three_days(run)
            errors = run.pod_errors()
            if errors:
                return False, f"{errors} pod errors"
        if "Traceback" in proc.stderr() or "MemoryError" in proc.stderr():
            return False, proc.stderr()[-300:]
        return True, ""
    except (AssertionError, RuntimeError, OSError, ValueError) as e:
        logs = sorted(state_dir.parent.glob(f"{state_dir.name}-stderr-*.log"))
        tail = [l for l in (logs[-1].read_text(errors="replace") if logs else "").splitlines() if l.strip()]
        last = tail[-1] if tail else "(no firmware output)"
        return False, f"{type(e).__name__}: {str(e).splitlines()[0][:160]} | firmware: {last[:160]}"


@pytest.mark.bench
@pytest.mark.parametrize("build", ["mpy", "source"])
def test_smallest_heap(micropython, tmp_path, build):
    tries: dict[int, bool] = {}

    def ok(kb: int) -> bool:
        if kb not in tries:
            tries[kb], why = _passes(micropython, tmp_path / f"heap{kb}k", build, kb)
            print(f"  {build} heapsize={kb}k: {'pass' if tries[kb] else 'FAIL ' + why}", flush=True)
        return tries[kb]

    # a Pico's 192 KB first; when that is not enough, double until the scenario passes
    lo, hi = LOW_KB - STEP_KB, PICO_KB           # lo fails (or is below the range), hi passes
    while not ok(hi):
        assert hi < MAX_KB, f"the scenario fails even in {hi} KB: see the lines above"
        lo, hi = hi, hi * 2
    if ok(LOW_KB):
        hi = LOW_KB
    while hi - lo > STEP_KB:
        mid = lo + (hi - lo) // 2 // STEP_KB * STEP_KB
        if ok(mid):
            hi = mid
        else:
            lo = mid
    # bisection assumes "passes" is monotonic in the heap size; show the neighbours as evidence
    above = ok(hi + STEP_KB)
    record(f"smallest-heap/{build}",
           f"smallest -X heapsize passing the 3-day scenario: {hi}k "
           f"({hi - STEP_KB}k fails; {hi + STEP_KB}k {'passes' if above else 'FAILS (not monotonic)'}; "
           f"{len(tries)} fresh processes; {PICO_KB}k {'passes' if tries[PICO_KB] else 'FAILS'})",
           build=build, smallest_kb=hi, passes_in_192k=tries[PICO_KB], step_kb=STEP_KB, tries={str(k): v for k, v in sorted(tries.items())},
           micropython=micropython_version(micropython))


@pytest.mark.bench
def test_pod_data_heap(micropython, tmp_path):
    micropypath("mpy")                                # fails clearly when build/mpy is missing
    env_path = f"{MPY_PATH}"
    r = subprocess.run([micropython, str(PROBE), str(tmp_path / "state")], capture_output=True, text=True,
                       env={"MICROPYPATH": env_path, "PATH": "/usr/bin:/bin"}, cwd=str(ROOT), timeout=60)
    assert r.returncode == 0, f"heap_probe.py failed:\n{r.stdout}\n{r.stderr}"
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines, r.stdout
    m = json.loads(lines[-1])
    assert m["pulses"] == m["expected_pulses"], m
    record("pod-data-heap/mpy",
           f"the loaded code holds {m['code'] - m['base']} B ({m['modules']} modules); the App + Pod objects add "
           f"{m['app'] - m['code']} B; "
           f"after a full activation and 1 h of basal the pod's data is {m['active'] - m['code']} B "
           f"(pod alone, without the App/bench/scheduler: {m['pod_only']} B)",
           **m)
