"""Alert engine (firmware/pod/alerts.py) in virtual time: triggers, beep patterns, acknowledgement."""
from __future__ import annotations

import json

import pytest


from pod.alerts import Alerts, check_configs

MIN = 60_000
HOUR = 60 * MIN


def cfg(hex6: str) -> dict:
    """Decode one 6-byte 0x19 alert config from the bit layout of PROTOCOL-NOTES §2.4."""
    b = bytes.fromhex(hex6)
    return {
        "slot": b[0] >> 4,
        "active": (b[0] >> 3) & 1,
        "units_trigger": (b[0] >> 2) & 1,
        "auto_off": (b[0] >> 1) & 1,
        "duration_minutes": ((b[0] & 1) << 8) | b[1],
        "trigger": (b[2] << 8) | b[3],
        "beep_repeat": b[4],
        "beep_type": b[5],
    }


def make(slot=1, repeat=0, trigger=0, duration=0, units=0, auto_off=0, beep_type=2, active=1) -> dict:
    return {"slot": slot, "active": active, "units_trigger": units, "auto_off": auto_off,
            "duration_minutes": duration, "trigger": trigger, "beep_repeat": repeat, "beep_type": beep_type}


class Recorder:
    """Drives an Alerts engine at exactly the deadlines it returns and records (ms, beep_type)."""

    def __init__(self) -> None:
        self.now = 0
        self.beeps: list[tuple[int, int]] = []
        self.alerts = Alerts(self._beep)

    def _beep(self, beep_type: int) -> None:
        self.beeps.append((self.now, beep_type))

    def run(self, until_ms: int, reservoir: int | None = None) -> int | None:
        deadline = self.alerts.step(self.now, reservoir)
        while deadline is not None and deadline <= until_ms:
            assert deadline > self.now, "the engine must not return a deadline that is already due"
            self.now = deadline
            deadline = self.alerts.step(self.now, reservoir)
        self.now = max(self.now, until_ms)
        return deadline

    def minutes(self, since_ms: int = 0) -> list[int]:
        for ms, _ in self.beeps:
            assert (ms - since_ms) % MIN == 0, "beeps fall on whole minutes after the trigger"
        return [(ms - since_ms) // MIN for ms, _ in self.beeps]


# Expected beep minutes (after the fire time) for each beep_repeat, written from the protocol notes'
# wording, over a 4-hour window.
WINDOW = 240
EXPECTED = {
    0: [0],
    1: [h * 60 + m for h in range(4) for m in (0, 1, 2)],
    2: list(range(15)),
    3: [q * 15 + m for q in range(16) for m in (0, 1, 2)],
    4: list(range(2, 60, 3)),
    5: list(range(0, WINDOW, 60)),
    6: list(range(0, WINDOW, 15)),
    7: [14, 29, 44, 59],
    8: list(range(0, WINDOW, 5)),
}


@pytest.mark.parametrize("repeat", sorted(EXPECTED))
def test_every_repeat_pattern_beeps_at_its_exact_minutes(repeat: int) -> None:
    r = Recorder()
    r.alerts.configure([make(slot=5, repeat=repeat, trigger=10, beep_type=4)], 0)
    r.run(10 * MIN + WINDOW * MIN - 1)
    assert r.minutes(10 * MIN) == EXPECTED[repeat]
    assert all(t == 4 for _, t in r.beeps)
    assert len(EXPECTED[4]) == 20 and EXPECTED[4][-1] == 59


@pytest.mark.parametrize("repeat,duration,expected", [
    (2, 5, [0, 1, 2, 3, 4]),
    (8, 55, list(range(0, 55, 5))),
    (6, 60, [0, 15, 30, 45]),
    (1, 61, [0, 1, 2, 60]),
    (4, 10, [2, 5, 8]),
])
def test_duration_bounds_the_beeps(repeat: int, duration: int, expected: list[int]) -> None:
    r = Recorder()
    r.alerts.configure([make(repeat=repeat, trigger=3, duration=duration)], 0)
    assert r.run(10 * HOUR) is None  # nothing left to schedule
    assert r.minutes(3 * MIN) == expected
    assert r.alerts.active_mask() == 0b10  # still unacknowledged: the bit stays


def test_finish_setup_reminder_as_the_real_pdm_sends_it() -> None:
    r = Recorder()
    c = cfg("783700050802")
    assert (c["slot"], c["duration_minutes"], c["trigger"], c["beep_repeat"]) == (7, 55, 5, 8)
    r.alerts.configure([c], 0)
    r.run(3 * HOUR)
    assert r.minutes() == list(range(5, 60, 5))


@pytest.mark.parametrize("hex6,threshold_pulses", [("4c0000c80102", 400), ("4c0000640102", 200)])
def test_low_reservoir_fires_at_its_threshold(hex6: str, threshold_pulses: int) -> None:
    r = Recorder()
    r.alerts.configure([cfg(hex6)], 0)
    assert r.alerts.step(5 * MIN, threshold_pulses + 1) is None
    assert r.alerts.active_mask() == 0 and r.beeps == []
    r.now = 7 * MIN
    deadline = r.alerts.step(r.now, threshold_pulses)
    assert r.alerts.active_mask() == 1 << 4
    assert r.beeps == [(7 * MIN, 2)]
    assert deadline == 8 * MIN  # repeat 1: every minute for 3 minutes...
    assert r.alerts.trigger_minutes(0)[4] == 7
    r.run(7 * MIN + 2 * HOUR, threshold_pulses - 10)
    assert r.minutes(7 * MIN) == [0, 1, 2, 60, 61, 62, 120]


def test_pod_life_slots_fire_at_their_exact_virtual_times() -> None:
    expiration, expired, imminent = cfg("380010a40302"), cfg("79a410df0502"), cfg("280012830602")
    assert (expiration["slot"], expiration["trigger"]) == (3, 71 * 60)
    assert (expired["slot"], expired["trigger"], expired["duration_minutes"]) == (7, 72 * 60 - 1, 7 * 60)
    assert (imminent["slot"], imminent["trigger"]) == (2, 79 * 60 - 1)
    activation = 123_456  # the clock does not start at activation
    per_slot = {}
    for c in (expiration, expired, imminent):
        r = Recorder()
        r.now = activation
        r.alerts.configure([c], activation)
        assert r.alerts.step(activation, 4000) == activation + c["trigger"] * MIN
        r.run(activation + 80 * HOUR)
        per_slot[c["slot"]] = r.minutes(activation)
    burst_every_15 = (71 * 60 + q * 15 + i for q in range(40) for i in (0, 1, 2))
    assert per_slot[3] == [m for m in burst_every_15 if m <= 80 * 60]
    assert per_slot[7] == [72 * 60 - 1 + 60 * h for h in range(7)]
    assert per_slot[2] == [79 * 60 - 1 + 15 * q for q in range(5)]

    both = Recorder()
    both.now = activation
    both.alerts.configure([expiration, expired, imminent], activation)
    both.run(activation + 80 * HOUR, 4000)
    assert both.minutes(activation) == sorted(per_slot[2] + per_slot[3] + per_slot[7])
    assert both.alerts.trigger_minutes(activation) == [0, 0, 4739, 4260, 0, 0, 0, 4319]
    assert both.alerts.active_mask() == 0b10001100


def test_acknowledge_stops_beeps_clears_bit_and_reconfigure_retriggers() -> None:
    r = Recorder()
    r.alerts.configure([make(slot=6, repeat=8, trigger=30)], 0)
    r.alerts.acknowledge(0xFF, 1 * MIN)  # not fired yet: nothing to acknowledge, stays armed
    r.run(41 * MIN)
    assert r.minutes() == [30, 35, 40]
    assert r.alerts.active_mask() == 1 << 6
    r.alerts.acknowledge(1 << 5, r.now)  # another slot's bit: no effect
    assert r.alerts.active_mask() == 1 << 6
    r.alerts.acknowledge(1 << 6, r.now)
    assert r.alerts.active_mask() == 0
    assert r.run(5 * HOUR) is None
    assert r.minutes() == [30, 35, 40]
    assert r.alerts.trigger_minutes(0)[6] == 30  # the trigger time stays readable
    r.alerts.configure([make(slot=6, repeat=0, trigger=10)], r.now)  # re-arm
    assert r.alerts.active_mask() == 0 and r.alerts.trigger_minutes(0)[6] == 0
    r.run(r.now + HOUR)
    assert r.minutes() == [30, 35, 40, 5 * 60 + 10]
    assert r.alerts.active_mask() == 1 << 6


def test_inactive_config_clears_the_slot() -> None:
    r = Recorder()
    r.alerts.configure([make(slot=3, repeat=6, trigger=1)], 0)
    r.run(20 * MIN)
    assert r.alerts.active_mask() == 1 << 3
    r.alerts.configure([cfg("020f00000202"), make(slot=3, active=0, beep_type=0)], r.now)
    assert r.alerts.active_mask() == 0
    assert not r.alerts.configured(0) and not r.alerts.configured(3)
    assert r.run(5 * HOUR) is None
    assert r.minutes() == [1, 16]


def test_late_step_sounds_one_beep_and_keeps_the_schedule() -> None:
    r = Recorder()
    r.alerts.configure([make(repeat=8, trigger=0)], 0)
    r.now = 23 * MIN + 7
    assert r.alerts.step(r.now, None) == 25 * MIN
    assert r.beeps == [(23 * MIN + 7, 2)]
    assert r.alerts.trigger_minutes(0)[1] == 0 and r.alerts.active_mask() == 2


def test_silent_beep_types_set_the_bit_without_sound() -> None:
    r = Recorder()
    r.alerts.configure([make(slot=2, repeat=0, trigger=1, beep_type=0xF)], 0)
    r.run(HOUR)
    assert r.beeps == [] and r.alerts.active_mask() == 4


def test_auto_off_expiry_and_interaction() -> None:
    r = Recorder()
    r.alerts.configure([make(slot=0, repeat=2, trigger=60, duration=15, auto_off=1)], 0)
    r.alerts.note_interaction(30 * MIN)  # the countdown restarts: fires at 90 min
    r.run(90 * MIN + 14 * MIN)
    assert r.minutes() == list(range(90, 105))
    assert r.alerts.auto_off_expired() is None
    r.run(105 * MIN)
    assert r.alerts.auto_off_expired() == 0
    r.alerts.acknowledge(1, r.now)
    assert r.alerts.auto_off_expired() is None


@pytest.mark.parametrize("bad", [
    make(slot=8), make(repeat=9), make(duration=512), make(trigger=70000), make(beep_type=16),
    make(beep_type=0), make(beep_type=9), make(beep_type=10), {"slot": 1},
])
def test_bad_configs_are_refused_and_change_nothing(bad: dict) -> None:
    r = Recorder()
    r.alerts.configure([make(slot=1, trigger=5)], 0)
    before = r.alerts.to_state()
    assert check_configs([make(slot=4), bad]) is not None
    with pytest.raises(ValueError) as err:
        r.alerts.configure([make(slot=4, trigger=1), bad], 0)
    assert err.value.args[0].endswith(".")
    assert r.alerts.to_state() == before


def test_state_round_trip_continues_the_same_schedule() -> None:
    straight = Recorder()
    straight.alerts.configure([make(slot=3, repeat=3, trigger=5), make(slot=4, units=1, trigger=100, repeat=1)], 0)
    straight.run(6 * HOUR, 150)

    resumed = Recorder()
    resumed.alerts.configure([make(slot=3, repeat=3, trigger=5), make(slot=4, units=1, trigger=100, repeat=1)], 0)
    resumed.run(2 * HOUR + 7 * MIN, 150)
    state = json.loads(json.dumps(resumed.alerts.to_state()))
    beeps = resumed.beeps
    resumed.alerts = Alerts(resumed._beep)
    resumed.alerts = Alerts.from_state(resumed._beep, state)
    resumed.beeps = beeps
    resumed.run(6 * HOUR, 150)
    assert resumed.beeps == straight.beeps
    assert resumed.alerts.to_state() == straight.alerts.to_state()

    shifted = Alerts.from_state(lambda t: None, state)
    shifted.shift(-2 * HOUR)
    assert shifted.trigger_minutes(-2 * HOUR) == resumed.alerts.trigger_minutes(0)


@pytest.mark.parametrize("state", [None, [], [None] * 7, [[1, 2]] + [None] * 7, [[0] * 11 + [1]] + [None] * 7,
                                   [[0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0]] + [None] * 7,
                                   [[0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0]] + [None] * 7])
def test_bad_state_is_refused(state) -> None:
    with pytest.raises(ValueError):
        Alerts.from_state(lambda t: None, state)


def test_configs_decoded_by_the_codec_drive_the_engine() -> None:
    blocks = pytest.importorskip("eros.blocks", reason="the codec's eros.blocks is not written yet")
    body = bytes.fromhex("19") + bytes([4 + 12]) + bytes(4) + bytes.fromhex("380010a40302" "4c0000c80102")
    decoded = blocks.decode_blocks(body)[0]
    assert decoded["alerts"] == [cfg("380010a40302"), cfg("4c0000c80102")]
    r = Recorder()
    r.alerts.configure(decoded["alerts"], 0)
    assert r.run(4260 * MIN, 1000) is not None
    assert r.alerts.active_mask() == 1 << 3
