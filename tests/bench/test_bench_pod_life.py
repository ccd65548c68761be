"""Benchmark 1: wall time of a whole 80-hour pod life in virtual time (firmware from source and
from .mpy), advancing to 80 h in one bench call and in hourly calls. Each run must end with the
0x1C fault at 80 h and exactly the modelled pulse count, so a broken run cannot report a time."""
from __future__ import annotations

import time

import pytest

from benchlib import median, micropython_version, record, running_pod
from scenario import EVENTS_80H, HOUR, POD_LIFE_MS, Run

RUNS = 3


def _life(micropython: str, state_dir, build: str, hourly: bool) -> tuple[float, float, int, int]:
    """One run; (wall of the final advance(s), wall of the whole run, calls, pulses)."""
    t0 = time.perf_counter()
    with running_pod(micropython, state_dir, build=build) as (link, proc):
        run = Run(link)
        run.activate()
        for event in EVENTS_80H:
            run.play(event)
        run.advance_to(6 * HOUR)
        run.check(EVENTS_80H)
        run.advance_calls, run.advance_wall = 0, 0.0
        if hourly:
            while run.now < POD_LIFE_MS:
                run.advance_to(min(run.now + HOUR, POD_LIFE_MS))
        else:
            run.advance_to(POD_LIFE_MS)
        tail, calls = run.advance_wall, run.advance_calls
        pulses = run.check_fault(EVENTS_80H)
        run.advance(HOUR)                                   # nothing after the fault
        assert run.check_fault(EVENTS_80H) == pulses
        assert run.pod_errors() == 0, "the pod code raised exceptions during the run"
    assert "Traceback" not in proc.stderr(), proc.stderr()
    return tail, time.perf_counter() - t0, calls, pulses


@pytest.mark.bench
@pytest.mark.parametrize("build", ["source", "mpy"])
@pytest.mark.parametrize("mode", ["one-call", "hourly"])
def test_80_hour_life(micropython, tmp_path, build, mode):
    tails, totals = [], []
    for i in range(RUNS):
        tail, total, calls, pulses = _life(micropython, tmp_path / f"run{i}", build, mode == "hourly")
        tails.append(tail)
        totals.append(total)
    record(f"pod-life-80h/{build}/{mode}",
           f"advance 6 h -> 80 h in {calls} call(s): median {median(tails):.3f} s "
           f"(runs {', '.join('%.3f' % t for t in tails)}); whole run incl. start-up and activation "
           f"median {median(totals):.3f} s; {pulses} pulses, fault 0x1C at 80 h",
           build=build, mode=mode, advance_calls=calls, advance_wall_s=tails, advance_median_s=median(tails),
           run_wall_s=totals, run_median_s=median(totals), pulses=pulses,
           virtual_hours=80, micropython=micropython_version(micropython))


@pytest.mark.bench
def test_80_hour_life_where_the_time_goes(micropython, tmp_path):
    """The pulse path profiled in the firmware's own process (tests/bench/pulse_profile.py)."""
    import json
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([micropython, str(root / "tests" / "bench" / "pulse_profile.py"), str(tmp_path)],
                       cwd=root, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    p = json.loads(r.stdout.strip().splitlines()[-1])
    assert p["pulses"] > 1400, p          # 1 h -> 80 h of the scenario's basal
    total = p["total_us"]
    by_file = ", ".join("%s %.0f %%" % (k, 100 * v / total) for k, v in sorted(p["write_us_by_file"].items()))
    record("pod-life-80h/profile",
           "1 h -> 80 h (%d pulses) stepped in-process: %.2f s; file writes %.0f %% (%d writes, %.0f µs each: %s), "
           "delivery engine and pulse plans %.1f %%, the rest (state encoding, pulse log, plant, alerts, "
           "step loop) %.0f %%" % (p["pulses"], total / 1e6, 100 * p["writes_us"] / total, p["writes"],
                                   p["writes_us"] / max(p["writes"], 1), by_file, 100 * p["delivery_us"] / total,
                                   100 * p["rest_us"] / total),
           micropython=micropython_version(micropython), **p)
