"""Schedule builders and pulse plans checked under the real MicroPython (also runs under CPython).

Run: MICROPYPATH=protocol micropython tests/mp/plan_check.py
Prints one line per failed check, then "OK <n> checks" (exit 0) or "FAILED <n> of <m> checks" (exit 1).
The same integer arithmetic as tests/protocol/test_plan.py: counts and times of whole pulses, and
that the plan's state stays within a Pico's 31-bit small ints.
"""

from eros import insulin as I
from eros import schedule
from eros.plan import PulsePlan, plan_from_blocks
from mpcheck import check, finish

HOUR = 3600000
HALF = 1800000
SMALL = 1 << 30


def run(plan, until_ms):
    times = []
    while True:
        due = plan.next_due_ms()
        if due is None or due > until_ms:
            return times
        n = plan.take(due)
        for _ in range(n):
            times.append(due)


def small_state(plan):
    for v in plan.to_state():
        if not -SMALL <= v < SMALL:
            return False
    return True


def check_codec():
    a, b = schedule.bolus_blocks(52, 0xBED2E16B, 1000)
    check(I.encode_1a(a) == bytes.fromhex("1a0ebed2e16b02010a0101a000340034"), "prime 1A bytes")
    check(I.encode_17(b) == bytes.fromhex("170d000208000186a0000000000000"), "prime 17 bytes")
    a, b = schedule.temp_basal_blocks(600, 24, 0xA958C5AD, 0x3C)
    check(I.encode_1a(a) == bytes.fromhex("1a10a958c5ad0104f5183840012cf12c712c"), "30 U/h 12 h 1A bytes")
    check(I.encode_16(b) == bytes.fromhex("16143c00f618000927c0f618000927c02328000927c0"), "30 U/h 12 h 16 bytes")
    raw = I.encode_13(schedule.basal_schedule_blocks([20] * 48, (43 * 1800 + 929) * 1000 + 456, 0, 0x40)[1])
    check(raw == bytes.fromhex("130e400001c1006acfc012c00112a880"), "flat 1 U/h 13 bytes")
    check(I.decode_13(raw[2:], 2)["delay_until_next_tenth_us"] == 7000000, "13 decode")
    a, b = schedule.basal_schedule_blocks([21] * 48, 0, 1)
    check(I.expand_elements(a["elements"]) == [10, 11] * 24, "1.05 U/h alternating table")
    try:
        schedule.bolus_blocks(601, 1)
        check(False, "601 pulses refused")
    except ValueError:
        check(True, "601 pulses refused")


def check_plans():
    p = plan_from_blocks(*schedule.basal_schedule_blocks([20] * 48, 0, 1)).start(0)
    times = run(p, 80 * HOUR)
    check(len(times) == 1600, "1 U/h: 1600 pulses in 80 h, got %d" % len(times))
    ok = True
    for k in range(len(times)):
        if times[k] != 180000 * (k + 1):
            ok = False
    check(ok, "1 U/h: every pulse exactly 180 s apart over 80 h (no drift)")
    check(small_state(p), "basal state small ints after 80 h")

    p = plan_from_blocks(*schedule.temp_basal_blocks(600, 24, 1)).start(0)
    check(p.take(12 * HOUR) == 7200, "30 U/h for 12 h = 7200 pulses")
    check(p.finished() and p.next_due_ms() is None, "temp finished at 12 h")

    p = plan_from_blocks(*schedule.temp_basal_blocks(0, 24, 1)).start(68 * HOUR)
    check(run(p, 81 * HOUR) == [] and p.finished(), "zero temp: no pulse, ends")
    check(small_state(p), "zero temp state small ints (30 min intervals split ms + µs)")

    p = plan_from_blocks(*schedule.basal_schedule_blocks([1] * 48, 0, 1)).start(0)
    check(run(p, 24 * HOUR) == [HOUR * (k + 1) for k in range(24)], "0.05 U/h: one pulse an hour")

    p = plan_from_blocks(*schedule.bolus_blocks(100, 1)).start(0)
    t = run(p, HOUR)
    check(len(t) == 100 and t[-1] == 200000, "5 U bolus: 100 pulses in 200 s")

    a, b = schedule.bolus_blocks(40, 1, 2000, 80, 6)
    p = plan_from_blocks(a, b).start(0)
    t = run(p, 5 * HOUR)
    check(len(t) == 120 and t[-1] == 80000 + 3 * HOUR, "dual wave: 120 pulses ending at 80 s + 3 h")

    a, b = schedule.basal_schedule_blocks([21] * 48, 16 * 3600000 + 146000, 1)
    p = plan_from_blocks(a, b).start(0)
    t = run(p, 3 * 24 * HOUR)
    check(abs(len(t) - 3 * 504) <= 1, "1.05 U/h: 504 pulses a day, got %d in 3 days" % len(t))
    check(small_state(p), "1.05 U/h state small ints after 3 days")

    q = PulsePlan.from_state(p.to_state())
    check(run(q, 4 * 24 * HOUR) == run(p, 4 * 24 * HOUR), "state round trip continues identically")

    try:
        plan_from_blocks(dict(a, checksum=a["checksum"] ^ 1), b)
        check(False, "bad checksum refused")
    except ValueError:
        check(True, "bad checksum refused")


check_codec()
check_plans()
finish()
