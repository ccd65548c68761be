"""eros.plan: schedules turned back into whole-pulse times on the pod (integer ms + µs carry)."""
from __future__ import annotations

import pytest

from eros import insulin as I
from eros import schedule
from eros.errors import ProtocolError
from eros.plan import PulsePlan, plan_from_blocks

HOUR = 3_600_000
HALF = 1_800_000


def run(plan: PulsePlan, until_ms: int) -> list[int]:
    """The time of every whole pulse up to until_ms, stepping from deadline to deadline as a pod does."""
    times: list[int] = []
    while True:
        due = plan.next_due_ms()
        if due is None or due > until_ms:
            return times
        n = plan.take(due)
        times += [due] * n


def per_half_hour(times: list[int], origin: int, count: int) -> list[int]:
    """Pulses per half-hour; a pulse at exactly a boundary belongs to the half-hour it ends."""
    out = [0] * count
    for t in times:
        k = (t - origin - 1) // HALF
        if 0 <= k < count:
            out[k] += 1
    return out


def test_one_unit_per_hour_is_20_pulses_each_hour_without_drift_over_80_hours():
    p = plan_from_blocks(*schedule.basal_schedule_blocks([20] * 48, 0, 1)).start(0)
    times = run(p, 80 * HOUR)
    assert len(times) == 1600
    assert times == [180_000 * (k + 1) for k in range(1600)]  # every pulse on the dot, the last at 80 h
    assert p.remaining_pulses() is None
    assert per_half_hour(times, 0, 48) == [10] * 48


def test_take_in_one_late_call_counts_the_same_pulses():
    p = plan_from_blocks(*schedule.basal_schedule_blocks([20] * 48, 0, 1)).start(0)
    assert p.take(80 * HOUR) == 1600
    assert p.next_due_ms() == 80 * HOUR + 180_000


def test_thirty_units_per_hour_temp_for_12_hours_is_7200_pulses():
    p = plan_from_blocks(*schedule.temp_basal_blocks(600, 24, 1)).start(1000)
    assert p.kind == "temp" and p.remaining_pulses() == 7200
    times = run(p, 13 * HOUR)
    assert len(times) == 7200 and times[0] == 1000 + 6000 and times[-1] == 1000 + 12 * HOUR
    assert p.next_due_ms() is None and p.remaining_pulses() == 0 and p.finished()


def test_lowest_rate_basal_is_one_pulse_an_hour():
    p = plan_from_blocks(*schedule.basal_schedule_blocks([1] * 48, 0, 1)).start(0)
    times = run(p, 24 * HOUR)
    assert times == [HOUR * (k + 1) for k in range(24)]


def test_zero_temp_delivers_nothing_and_ends_on_time():
    p = plan_from_blocks(*schedule.temp_basal_blocks(0, 6, 1)).start(500)
    assert p.remaining_pulses() == 0
    assert p.next_due_ms() == 500 + 3 * HOUR
    assert p.take(500 + 3 * HOUR - 1) == 0 and not p.finished()
    assert p.take(500 + 3 * HOUR) == 0 and p.finished() and p.next_due_ms() is None


def test_small_temps_follow_their_tables():
    p = plan_from_blocks(*schedule.temp_basal_blocks(1, 1, 1)).start(0)          # 0.05 U/h, 30 min
    assert run(p, HOUR) == [] and p.finished()
    p = plan_from_blocks(*schedule.temp_basal_blocks_tenths(42, 1, 1)).start(0)  # 0.21 U/h, 30 min
    assert len(run(p, HOUR)) == 2 and p.finished()


def test_five_unit_bolus_takes_200_s_at_2_s_per_pulse():
    p = plan_from_blocks(*schedule.bolus_blocks(100, 1)).start(10_000)
    assert p.kind == "bolus" and p.immediate_remaining() == 100
    assert p.take(10_000 + 100_000) == 50 and p.immediate_remaining() == 50
    times = run(p, 10 * HOUR)
    assert len(times) == 50 and times[-1] == 10_000 + 200_000
    assert p.immediate_remaining() == 0 and p.next_due_ms() is None


def test_prime_is_one_pulse_a_second():
    p = plan_from_blocks(*schedule.bolus_blocks(52, 1, interval_ms=1000)).start(0)
    assert run(p, HOUR) == [1000 * (k + 1) for k in range(52)]


def test_extended_bolus_spreads_evenly():
    p = plan_from_blocks(*schedule.bolus_blocks(0, 1, extended_pulses=20, extended_half_hours=2)).start(0)
    assert p.immediate_remaining() == 0 and p.remaining_pulses() == 20
    assert run(p, 2 * HOUR) == [180_000 * (k + 1) for k in range(20)]


def test_dual_wave_bolus_exact_totals_and_extended_table():
    a, b = schedule.bolus_blocks(40, 1, extended_pulses=80, extended_half_hours=6)
    p = plan_from_blocks(a, b).start(0)
    assert p.remaining_pulses() == 120 and p.immediate_remaining() == 40
    times = run(p, 5 * HOUR)
    assert len(times) == 120 and p.finished()
    assert times[39] == 80_000 and times[40] == 80_000 + 135_000 and times[-1] == 80_000 + 3 * HOUR
    assert per_half_hour([t - 80_000 for t in times[40:]], 0, 6) == I.expand_elements(a["elements"])[1:]


def test_remaining_of_an_odd_extended_bolus():
    p = plan_from_blocks(*schedule.bolus_blocks_ms(20, 1, 2000, 1, 382_000)).start(0)
    assert run(p, HOUR)[-1] == 40_000 + 382_000


@pytest.mark.parametrize("rates, start_s", [
    ([20] * 46 + [60, 60], 23 * 3600),                                     # across midnight, rate change there
    ([28] * 11 + [40] * 6 + [25] * 31, 20 * 3600 + 56 * 60),               # the real activation basal
    ([21] * 48, 16 * 3600 + 146),                                          # 1.05 U/h: alternating table
    ([55, 55, 405, 100, 202] + [1] * 26 + [70] * 17, 72938),              # the PDM's rounding example
    ([i % 7 * 30 + 1 for i in range(48)], 5 * 3600 + 1234),               # many entries
])
def test_basal_pulses_per_half_hour_follow_the_1a_table(rates, start_s):
    a, b = schedule.basal_schedule_blocks(rates, start_s * 1000, 9)
    table = I.expand_elements(a["elements"])
    origin = -start_s * 1000                      # ms of the midnight before the start
    p = plan_from_blocks(a, b).start(0)
    times = run(p, origin + 3 * 24 * HOUR)
    first = start_s // 1800 + 1                   # first whole half-hour after the start
    got = per_half_hour(times, origin, 3 * 48)
    for k in range(first, 3 * 48):
        # one-pulse phase slack: the pod counts from the program's start and again from each
        # midnight (SPEC 7.5), the 1A's whole pulses from midnight with half pulses carried
        assert abs(got[k] - table[k % 48]) <= 1, (k, got[k], table[k % 48])
    day = sum(got[48:96])
    assert abs(day - sum(table)) <= 1
    assert sum(got[first:first + 96]) in (2 * sum(table), 2 * sum(table) + 1, 2 * sum(table) - 1)
    # the current half-hour: the 1A says how many whole pulses are left in it
    assert abs(got[start_s // 1800] - a["pulses"]) <= 1


def test_state_round_trip_continues_identically():
    a, b = schedule.bolus_blocks(30, 1, extended_pulses=25, extended_half_hours=3)
    p = plan_from_blocks(a, b).start(0)
    p.take(100_000)
    q = PulsePlan.from_state(p.to_state())
    assert q.to_state() == p.to_state()
    assert run(q, 3 * HOUR) == run(p, 3 * HOUR)
    with pytest.raises(ProtocolError):
        PulsePlan.from_state([1, 2])


def test_state_values_stay_small_ints():
    p = plan_from_blocks(*schedule.temp_basal_blocks(0, 24, 1)).start(79 * HOUR)
    p.take(80 * HOUR)
    assert all(-(1 << 30) <= v < (1 << 30) for v in p.to_state())


def test_bad_checksum_is_refused():
    a, b = schedule.temp_basal_blocks(20, 2, 1)
    with pytest.raises(ProtocolError, match="checksum"):
        plan_from_blocks(dict(a, checksum=a["checksum"] ^ 1), b)


def test_mismatched_blocks_are_refused():
    a, b = schedule.temp_basal_blocks(20, 2, 1)
    _, b17 = schedule.bolus_blocks(1, 1)
    with pytest.raises(ProtocolError, match="0x16"):
        plan_from_blocks(a, b17)
    more = dict(b, remaining_tenths=400, delay_until_next_tenth_us=18_000_000,
                entries=[{"tenths": 400, "interval_us": 18_000_000}])   # 2 h of timing for a 1 h table
    with pytest.raises(ProtocolError, match="half-hours"):
        plan_from_blocks(a, more)
    faster = dict(b, entries=[{"tenths": 210, "interval_us": 17_142_857}])  # 21 pulses, table says 20
    with pytest.raises(ProtocolError):
        plan_from_blocks(a, faster)
    a2, b2 = schedule.bolus_blocks(10, 1)
    with pytest.raises(ProtocolError, match="immediate"):
        plan_from_blocks(a2, dict(b2, immediate_tenths=110))
    a3, b3 = schedule.basal_schedule_blocks([20] * 48, 0, 1)
    with pytest.raises(ProtocolError, match="rate entry"):
        plan_from_blocks(a3, dict(b3, current_entry=3))


# ---- the real pod's counting rules (SPEC 7.5 "Pulse timing"), each from the captures

def test_a_basal_counts_tenths_from_its_start_not_from_midnight():
    # 1 U/h at 11:12:19 + 7 s: 18 s per tenth; from midnight 4044 tenths are done (4 past a pulse),
    # yet the first pulse waits for the tenth tenth after the start (1f039cec: 171-176 s in)
    tod = (11 * 3600 + 12 * 60 + 26) * 1000
    b1a, b13 = schedule.basal_schedule_blocks([20] * 48, tod, 1)
    p = plan_from_blocks(b1a, b13).start(0)
    delay_ms = b13["delay_until_next_tenth_us"] // 1000
    times = run(p, 20 * 60_000)
    assert times[0] == delay_ms + 9 * 18_000
    assert [b - a for a, b in zip(times, times[1:])] == [180_000] * (len(times) - 1)


def test_a_basal_drops_its_partial_tenths_at_midnight_and_counts_again_from_zero():
    # 0.2 U/h (90 s per tenth) started with 508 tenths left in the day (1f07b1ee): 50 pulses, then
    # the 8 tenths left over are dropped and the next day's first pulse comes 10 tenths after midnight
    left_s = 507 * 90 + 30
    b1a, b13 = schedule.basal_schedule_blocks([4] * 48, (86_400 - left_s) * 1000, 1)
    assert b13["remaining_tenths"] == 508
    p = plan_from_blocks(b1a, b13).start(0)
    midnight = left_s * 1000
    times = run(p, midnight + 3 * HOUR)
    before = [t for t in times if t <= midnight]
    after = [t for t in times if t > midnight]
    assert len(before) == 50 and before[0] == 30_000 + 9 * 90_000
    assert after[0] == midnight + 900_000            # carried, it would come 2 tenths after midnight
    assert [b - a for a, b in zip(after, after[1:])] == [900_000] * (len(after) - 1)


def test_state_round_trip_keeps_the_midnight_rule():
    b1a, b13 = schedule.basal_schedule_blocks([4] * 48, (86_400 - 45_660) * 1000, 1)
    a = plan_from_blocks(b1a, b13).start(0)
    a.take(45_000_000)
    b = PulsePlan.from_state(a.to_state())
    assert run(a, 50 * HOUR) == run(b, 50 * HOUR)
