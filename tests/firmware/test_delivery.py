"""Delivery engine (firmware/pod/delivery.py) with real PulsePlans from eros.plan: which program
runs, the order of simultaneous events, cancels, and exact pulse counts."""
from __future__ import annotations



from eros import schedule
from eros.blocks import decode_blocks, encode_block
from eros.plan import plan_from_blocks
from pod.delivery import BOLUS_NORMAL, BOLUS_PRIME, EV_BASAL, EV_BOLUS, EV_TEMP, Delivery

S = 1000
MIN = 60 * S
HOUR = 60 * MIN


def plan(blocks):
    b1a, extra = blocks
    return plan_from_blocks(b1a, extra), (encode_block(b1a) + encode_block(extra)).hex()


def basal(pph=20, tod=0):
    return plan(schedule.basal_schedule_blocks([pph] * 48, tod, 0))


def run(d: Delivery, until: int) -> list[tuple[int, int, int]]:
    """Every event up to `until`: (time, event, pulses)."""
    out = []
    while True:
        nxt = d.next_event()
        if nxt is None or nxt[0] > until:
            return out
        t, ev = nxt
        out.append((t, ev, d.take(ev, t)))


def pulses(events, ev=None) -> int:
    return sum(n for _, e, n in events if ev is None or e == ev)


def test_basal_alone_is_exact():
    d = Delivery()
    d.start_basal(*basal(20), 0)
    assert d.bits() == 1
    ev = run(d, 3 * HOUR)
    assert pulses(ev) == 60 and all(n == 1 for _, _, n in ev)
    assert [t for t, _, _ in ev][:2] == [180 * S, 360 * S]


def test_temp_replaces_basal_which_keeps_its_place():
    solo = Delivery()
    solo.start_basal(*basal(20), 0)
    d = Delivery()
    d.start_basal(*basal(20), 0)
    p, src = plan(schedule.temp_basal_blocks(60, 2, 0))
    d.start_temp(p, src, 2, 10 * MIN)
    assert d.bits() == 2
    ev = run(d, 10 * MIN + HOUR)
    assert pulses(ev, EV_TEMP) == 60
    assert pulses(ev, EV_BASAL) == pulses([e for e in ev if e[0] <= 10 * MIN], EV_BASAL)
    assert d.temp is None and d.bits() == 1
    run(solo, 10 * MIN + HOUR)
    assert d.basal.next_due_ms() == solo.basal.next_due_ms()


def test_zero_temp_lasts_its_duration():
    d = Delivery()
    d.start_basal(*basal(20), 0)
    p, src = plan(schedule.temp_basal_blocks(0, 3, 0))
    d.start_temp(p, src, 3, 0)
    ev = run(d, 90 * MIN - 1)
    assert pulses(ev) == 0 and d.bits() == 2
    ev = run(d, 90 * MIN)
    assert [e for e in ev if e[1] != EV_BASAL] and d.temp is None and d.bits() == 1
    assert (90 * MIN, EV_BASAL, 1) in ev                 # the basal is back at once


def test_bolus_on_top_of_basal_and_same_instant_order():
    d = Delivery()
    d.start_basal(*basal(600), 0)                       # a pulse every 6 s
    d.start_bolus(*plan(schedule.bolus_blocks(10, 0)), BOLUS_NORMAL, 0)   # every 2 s
    assert d.bits() == 5 and d.bolus_left() == 10
    ev = run(d, 20 * S)
    same = [e for t, e, _ in ev if t == 6 * S]
    assert same == [EV_BOLUS, EV_BASAL]
    assert pulses(ev, EV_BOLUS) == 10 and pulses(ev, EV_BASAL) == 3
    assert d.bolus is None and d.pop_finished() == BOLUS_NORMAL and d.pop_finished() == -1


def test_extended_and_dual_bits():
    d = Delivery()
    d.start_bolus(*plan(schedule.bolus_blocks(4, 0, extended_pulses=6, extended_half_hours=1)), BOLUS_NORMAL, 0)
    assert d.bits() == 4 and d.bolus_left() == 10 and d.immediate_left() == 4
    run(d, 8 * S)
    assert d.bits() == 8 and d.bolus_left() == 6
    ev = run(d, 8 * S + 30 * MIN)
    assert pulses(ev) == 6 and d.bolus is None


def test_cancel_bolus_keeps_the_undelivered_count():
    d = Delivery()
    d.start_bolus(*plan(schedule.bolus_blocks(30, 0)), BOLUS_NORMAL, 0)
    run(d, 21 * S)
    d.cancel(4)
    assert d.bolus is None and d.undelivered == 20 and d.bits() == 0


def test_cancel_basal_also_ends_the_temp():
    d = Delivery()
    d.start_basal(*basal(20), 0)
    p, src = plan(schedule.temp_basal_blocks(40, 2, 0))
    d.start_temp(p, src, 2, 0)
    d.cancel(1)
    assert d.basal is None and d.temp is None and d.next_event() is None and d.bits() == 0


def test_restore_round_trip():
    d = Delivery()
    d.start_basal(*basal(20), 0)
    d.start_bolus(*plan(schedule.bolus_blocks(52, 0, interval_ms=1000)), BOLUS_PRIME, 0)
    run(d, 30 * S)
    state = d.to_state()
    r = Delivery()
    r.restore(state, lambda src: plan_from_blocks(*decode_blocks(bytes.fromhex(src))), 30 * S)
    assert r.to_state() == state
    assert run(r, 2 * HOUR) == run(d, 2 * HOUR)


def test_short_temps_give_nothing_and_the_basal_grid_goes_on_between_them():
    """1f07b1ee (SPEC 7.5): 0.21 U/h temps cancelled after 40 s never pulse (each starts its tenths
    from 0 and drops them); the basal's pulses due inside a temp are lost, the others come on time."""
    solo = Delivery()
    solo.start_basal(*basal(4), 0)
    grid = [t for t, _, n in run(solo, 6 * HOUR) for _ in range(n)]
    d = Delivery()
    d.start_basal(*basal(4), 0)
    got = []
    t = 0
    while t < 6 * HOUR:
        got += [(e[0], e[1]) for e in run(d, t + 37 * S) if e[2]]         # basal alone for 37 s
        p, src = plan(schedule.temp_basal_blocks_tenths(42, 1, 0))
        d.start_temp(p, src, 1, t + 37 * S)
        got += [(e[0], e[1]) for e in run(d, t + 77 * S) if e[2]]         # temp for 40 s
        d.cancel(2)
        t += 77 * S
    assert all(ev == EV_BASAL for _, ev in got)                          # no temp ever pulsed
    assert [t for t, _ in got] == [g for g in grid if g % (77 * S) <= 37 * S]
    assert 0 < len(got) < len(grid)
