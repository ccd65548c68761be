"""The schedule builders against the real PDM: reference vectors and every captured 1A+13/16/17.

For each real message the intent (rates, time of day, duration, pulses) is read back from the
decoded blocks, rebuilt with eros.insulin's builders and compared byte for byte.
"""
from __future__ import annotations

from eros import insulin as I
from eros import schedule
from eros.plan import plan_from_blocks

_DECODE = {0x1A: I.decode_1a, 0x13: I.decode_13, 0x16: I.decode_16, 0x17: I.decode_17}
_ENCODE = {0x1A: I.encode_1a, 0x13: I.encode_13, 0x16: I.encode_16, 0x17: I.encode_17}

# Vectors whose XXXXXXXX (13) the reference compares with a tolerance: real PDM values sit a few
# µs below the exact time when the tenth interval is not a whole number of µs.
_X_TOLERANCE_US = 10_000  # the ±0.01 s the reference notes
# Historical rileylink_ios vectors whose 1A and 13 disagree with each other by about 2 minutes and
# round a lone odd half-pulse down (newer real PDM captures carry it): decoded, not rebuilt.
_HISTORICAL = {"ps2/rileylink_ios"}


def dec(hexstr: str) -> dict:
    b = bytes.fromhex(hexstr)
    return _DECODE[b[0]](b[2:2 + b[1]], 2)


def enc(block: dict) -> str:
    return _ENCODE[block["type"]](block).hex()


def _tph(interval_us: int) -> int:
    return (schedule.HOUR_US + interval_us // 2) // interval_us


def rebuild(a: dict, e: dict) -> tuple[dict, dict]:
    """Rebuild both blocks from the intent read back out of them."""
    bo = e["beep_options"]
    if a["table"] == 0:
        rates: list[int] = []
        for en in e["entries"]:
            t = _tph(en["interval_us"])
            rates += [t // 10] * (en["tenths"] * 2 // t)
        sec = (a["segment"] * 1800 + 1800 - a["seconds_x8"] // 8) % 86400
        return schedule.basal_schedule_blocks(rates, sec * 1000, a["nonce"], bo)
    if a["table"] == 1:
        first = e["entries"][0]
        tph = 0 if first["tenths"] == 0 else _tph(first["interval_us"])
        if tph % 10 == 0 and a["segment"] <= 24:
            return schedule.temp_basal_blocks(tph // 10, a["segment"], a["nonce"], bo)
        return schedule.temp_basal_blocks_tenths(tph, a["segment"], a["nonce"], bo)
    dur = 0
    if e["extended_tenths"]:
        dur = (e["extended_tenths"] * e["extended_interval_us"] + 500_000) // 1_000_000 * 1000
    if dur % I.SEGMENT_MS == 0:
        return schedule.bolus_blocks(a["pulses"], a["nonce"], e["immediate_interval_us"] // 100,
                              e["extended_tenths"] // 10, dur // I.SEGMENT_MS, bo)
    return schedule.bolus_blocks_ms(a["pulses"], a["nonce"], e["immediate_interval_us"] // 100,
                             e["extended_tenths"] // 10, dur, bo)


def _split(message_hex: str) -> tuple[str, str] | None:
    body = bytes.fromhex(message_hex)[6:-2]
    if not body or body[0] != 0x1A:
        return None
    n = body[1]
    m = body[3 + n]
    return body[:2 + n].hex(), body[2 + n:4 + n + m].hex()


def _schedule_vectors(vectors: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for v in vectors:
        if v["block_type"] in ("0x1a", "0x13", "0x16", "0x17") and v["kind"] == "command":
            out.setdefault(v["test_name"], []).append(v)
    return out


def test_every_schedule_vector_round_trips(vectors):
    count = 0
    for vs in _schedule_vectors(vectors).values():
        for v in vs:
            assert enc(dec(v["hex"])) == v["hex"], v["test_name"]
            if v["hex"].startswith("1a"):
                I.verify_1a(dec(v["hex"]))
            count += 1
    assert count == 68


def test_vector_pairs_rebuild_from_their_intent(vectors):
    exact = tolerant = historical = 0
    for name, vs in _schedule_vectors(vectors).items():
        ones = [v for v in vs if v["hex"].startswith("1a")]
        extras = [v for v in vs if not v["hex"].startswith("1a")]
        if not ones or not extras:
            continue
        for va, ve in zip(ones, extras):
            a, e = dec(va["hex"]), dec(ve["hex"])
            if va["source_repo"] in _HISTORICAL:
                plan_from_blocks(a, e)  # still a valid schedule for the pod
                historical += 1
                continue
            ra, re_ = rebuild(a, e)
            assert enc(ra) == va["hex"], name
            if enc(re_) == ve["hex"]:
                exact += 1
                continue
            assert "tolerance" in str(ve["decoded"]), name
            got = dict(re_)
            want = dict(e)
            dx = got.pop("delay_until_next_tenth_us") - want.pop("delay_until_next_tenth_us")
            assert got == want, name
            assert -_X_TOLERANCE_US <= dx <= _X_TOLERANCE_US, (name, dx)
            assert 0 <= dx <= 40, (name, dx)  # measured: the PDM is 1..32 µs below the exact value
            tolerant += 1
    assert (exact, tolerant, historical) == (11, 4, 2)


def _by_name(vectors, name: str) -> list[str]:
    return [v["hex"] for v in _schedule_vectors(vectors)[name]]


def _sched(points: list[tuple[float, int]]) -> list[int]:
    """48 rates (pulses/h) from (start hour, pulses per hour) change points."""
    rates = [0] * 48
    for i, (hour, pph) in enumerate(points):
        end = points[i + 1][0] if i + 1 < len(points) else 24
        for s in range(int(hour * 2), int(end * 2)):
            rates[s] = pph
    return rates


def _tod(hh: int, ssss: int) -> int:
    return (hh * 1800 + 1800 - ssss // 8) * 1000


def test_single_vectors_from_their_encode_arguments(vectors):
    def nonce(name: str, i: int = 0) -> int:
        return dec([h for h in _by_name(vectors, name) if h.startswith("1a")][i])["nonce"]

    cases = {
        # name: (builder result, which block, index among that test's blocks of that type)
        "testPrime": (schedule.bolus_blocks(52, nonce("testPrime"), interval_ms=1000), 0),
        "testInsertCannula": (schedule.bolus_blocks(10, nonce("testInsertCannula"), interval_ms=1000), 0),
        "testBolusAndBolusExtraMatch2": (schedule.bolus_blocks(3, nonce("testBolusAndBolusExtraMatch2")), 0),
        "testNonceSync2": (schedule.bolus_blocks(2, nonce("testNonceSync2")), 0),
        "testTempBasalThreeTenthsUnitPerHour": (schedule.temp_basal_blocks(6, 1, nonce("testTempBasalThreeTenthsUnitPerHour")), 0),
        "testSetTempBasalCommand": (schedule.temp_basal_blocks(4, 1, nonce("testSetTempBasalCommand")), 0),
        "testSetTempBasalWithAlternatingPulse": (schedule.temp_basal_blocks(1, 5, nonce("testSetTempBasalWithAlternatingPulse")), 0),
        "testLargerTempBasalCommand": (schedule.temp_basal_blocks(40, 3, nonce("testLargerTempBasalCommand")), 0),
        "testTempBasalExtremeValues": (schedule.temp_basal_blocks(600, 24, nonce("testTempBasalExtremeValues")), 0),
        "test_commands_from_message": (schedule.temp_basal_blocks(8, 1, nonce("test_commands_from_message")), 0),
        "testSetBasalScheduleCommand": (schedule.basal_schedule_blocks([1] * 48, _tod(0x2B, 0x1708), nonce("testSetBasalScheduleCommand")), 0),
        "testBasalScheduleCommandFromSchedule": (schedule.basal_schedule_blocks([1] * 48, 8 * 3600_000 + 900_000, 0x01020304), 0),
        "testRounding": (schedule.basal_schedule_blocks(
            _sched([(0, 55), (1, 405), (1.5, 100), (2, 202), (2.5, 1), (15.5, 70)]), _tod(0x28, 0x1AF0),
            nonce("testRounding")), 0),
        "testRounding2": (schedule.basal_schedule_blocks(
            _sched([(0, 12), (7.5, 13), (8.5, 10), (9.5, 13), (15.5, 3), (16.5, 16)]), _tod(0x2C, 0x2190),
            nonce("testRounding2")), 0),
        "testBolusExtraCommand": (schedule.bolus_blocks(600, 0, beep_options=0x7C), 1),
        "testLargeBolusDualWave": (schedule.bolus_blocks(300, 0, extended_pulses=300, extended_half_hours=16, beep_options=0x7C), 1),
        "testBolusExtraOddPulseCount": (schedule.bolus_blocks(25, 0, beep_options=0x7C), 1),
        "testZeroTempExtraCommand": (schedule.temp_basal_blocks(0, 1, 0, beep_options=0x7C), 1),
        "testZeroTempThreeHoursExtraCommand": (schedule.temp_basal_blocks(0, 6, 0, beep_options=0x7C), 1),
        "testTempBasalExtraCommand": (schedule.temp_basal_blocks(600, 1, 0, beep_options=0x7C), 1),
        "testBasalExtraCommandPulseCount": (schedule.temp_basal_blocks(547, 24, 0), 1),
        "testTempBasalExtraCommandExtremeValues": (schedule.temp_basal_blocks(600, 24, 0, beep_options=0x3C), 1),
        "testTempBasalExtraCommandExtremeValues2": (schedule.temp_basal_blocks(599, 24, 0, beep_options=0x3C), 1),
    }
    for name, (blocks, which) in cases.items():
        hexes = [h for h in _by_name(vectors, name) if h.startswith("1a") == (which == 0)]
        assert enc(blocks[which]) in hexes, name
    # the prime/extended list of the bolus extra test: prime is the second 17 of testBolusExtraCommand
    assert enc(schedule.bolus_blocks(52, 0, interval_ms=1000)[1]) in _by_name(vectors, "testBolusExtraCommand")
    odd = _by_name(vectors, "testBasalExtraCommandForOddPulseCountRate")
    assert enc(schedule.temp_basal_blocks(1, 1, 0, 0x7C)[1]) == odd[0]
    assert [enc(schedule.temp_basal_blocks(r, 1, 0, 0x3C)[1]) for r in (41, 42, 43)] == odd[1:]
    flag = [h for h in _by_name(vectors, "testAlternatingSegmentFlag")]
    n = dec(flag[0])["nonce"]
    assert [enc(schedule.temp_basal_blocks_tenths(10, hh, n)[0]) for hh in (1, 17, 33)] == flag
    # 13 from direct arguments (not a builder intent): OmniKit's encoder test
    enc13 = _by_name(vectors, "testBasalScheduleExtraCommand")[1]
    assert I.encode_13({"type": 0x13, "beep_options": 0x40, "current_entry": 0, "remaining_tenths": 6890,
                        "delay_until_next_tenth_us": 20_000_000,
                        "entries": [{"tenths": 14400, "interval_us": 6_000_000}]}).hex() == enc13
    # flat 1 U/h at 21:29:29.456: the PDM rounds the time of day to the nearest second
    rounds = _by_name(vectors, "testBasalScheduleExtraCommandRoundsToNearestSecond")[0]
    b13 = schedule.basal_schedule_blocks([20] * 48, (43 * 1800 + 929) * 1000 + 456, 0, 0x40)[1]
    assert enc(b13) == rounds


def _real_pairs(messages: list[dict]) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        if m["direction"] == "PDM":
            pair = _split(m["hex"])
            if pair:
                out.append(pair)
    return out


def test_every_captured_schedule_rebuilds_byte_exact(captures):
    pairs = _real_pairs(captures)
    assert len(pairs) == 604
    tables = [0, 0, 0]
    for h1, h2 in pairs:
        a, e = dec(h1), dec(h2)
        I.verify_1a(a)
        ra, re_ = rebuild(a, e)
        assert (enc(ra), enc(re_)) == (h1, h2)
        plan_from_blocks(a, e)
        tables[a["table"]] += 1
    assert tables == [6, 536, 62]


def test_activation_session_schedules_rebuild_byte_exact(activation_session):
    pairs = _real_pairs(activation_session)
    assert len(pairs) == 6
    for h1, h2 in pairs:
        ra, re_ = rebuild(dec(h1), dec(h2))
        assert (enc(ra), enc(re_)) == (h1, h2)


def test_percent_temp_needs_tenth_pulse_rates(captures):
    """The real PDM's 0.21 U/h (42 tenths/h) and 2.43 U/h (486) temps rebuild only in tenths."""
    rates = set()
    for h1, h2 in _real_pairs(captures):
        a, e = dec(h1), dec(h2)
        if a["table"] == 1 and e["entries"][0]["tenths"]:
            rates.add(_tph(e["entries"][0]["interval_us"]))
    assert {42, 486} <= rates
    assert enc(schedule.temp_basal_blocks_tenths(42, 1, 0xBEE0A2D0, 0x40)[0]) == "1a0ebee0a2d001007d01384000020002"
