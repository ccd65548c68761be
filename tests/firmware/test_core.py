"""Pod protocol logic (firmware/pod/core.py) under CPython: every command, refusals that change
nothing, nonce resync with the real vectors, the real activation replayed, exact pulse counts."""
from __future__ import annotations

from datetime import datetime

import pytest


from eros.blocks import encode_block
from eros.crc import crc16
from eros.message import build_message, parse_message
from eros.nonce import NonceState, resync_word
from eros import insulin
from eros import schedule
from system.pdm_driver import InProcessPod, Pdm, activate, alert

S = 1000
MIN = 60 * S
HOUR = 60 * MIN
LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
FLAT_1U = [20] * 48          # 1 U/h = 20 pulses per hour: one pulse every 180 s


def new(fill: int = 4000, lot: int = LOT, tid: int = TID) -> tuple[InProcessPod, Pdm]:
    bench = InProcessPod(lot, tid, fill)
    return bench, Pdm(bench.exchange, lot, tid, ADDR)


def running(fill: int = 4000, rates: list[int] | None = None) -> tuple[InProcessPod, Pdm]:
    """A pod activated with a flat basal programmed at midnight, at progress 8."""
    bench, pdm = new(fill)
    # the basal is programmed 55 s after the start; this makes the schedule start at midnight
    activate(pdm, bench.advance, rates or FLAT_1U, -55 * S)
    assert bench.pod.progress in (8, 9)
    return bench, pdm


def pod_state(pod) -> dict:
    """The pod's state without the reply kept for a repeated message (link bookkeeping)."""
    state = pod.to_state()
    del state["last"]
    return state


def frozen(bench: InProcessPod) -> dict:
    bench.pod.step(bench.now)
    return pod_state(bench.pod)


def refused(bench: InProcessPod, send, code: int) -> None:
    """send() must be answered 06 `code` and the pod must not change at all."""
    before = frozen(bench)
    reply = send()
    assert reply["type"] == 0x06, reply
    assert reply["code"] == code
    assert reply["word"] == (bench.pod.fault_code << 8) | bench.pod.progress
    assert pod_state(bench.pod) == before


# ---------------------------------------------------------------- pairing and lifecycle

def test_pairing_answers_like_the_real_pod(activation_session):
    bench, _ = new()
    msgs = activation_session
    bench.now = 0
    for req, rsp in ((msgs[0], msgs[1]), (msgs[2], msgs[3])):
        assert bench.exchange(bytes.fromhex(req["hex"])).hex() == rsp["hex"]
    assert bench.pod.progress == 3 and bench.pod.address == ADDR


def _ms(entry: dict) -> int:
    return int(datetime.fromisoformat(entry["timestamp"]).timestamp() * 1000)


def test_real_activation_replayed(activation_session):
    """The 1f07b1ee session (lot 42125 / tid 170175): the pod answers the real PDM's messages as the
    real pod did, except the pulse counter after the prime (real pods counted 45-48 of 52)."""
    m = [e for e in activation_session if e["hex"][:8] in ("ffffffff", "1f07b1ee")]
    t0 = _ms(m[0])
    bench = InProcessPod(LOT, TID, 4000, now_ms=0)

    def at(entry: dict) -> None:
        bench.now = _ms(entry) - t0

    def ask(entry: dict) -> dict:
        at(entry)
        return parse_message(bench.exchange(bytes.fromhex(entry["hex"])))

    def real(entry: dict) -> dict:
        return parse_message(bytes.fromhex(entry["hex"]))

    pairs = [(m[i], m[i + 1]) for i in (0, 2, 4, 6, 8)]
    for req, rsp in pairs:                        # pairing, two alerts, prime: byte-exact answers
        at(req)
        assert bench.exchange(bytes.fromhex(req["hex"])).hex() == rsp["hex"], req["description"]
    got = ask(m[10])["blocks"][0]                 # alert slot 3 after the prime
    want = real(m[11])["blocks"][0]
    # the real pod's minute ticks run a few seconds ahead of its pairing (58 s read as 1 minute)
    assert {k: v for k, v in got.items() if k not in ("pulses_delivered", "minutes")} == \
        {k: v for k, v in want.items() if k not in ("pulses_delivered", "minutes")}
    assert want["minutes"] - got["minutes"] in (0, 1)
    assert got["pulses_delivered"] == 52 == bench.plant.pushed
    # the basal and cannula messages of this pod were not captured whole: the PDM's nonces 5..8
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    pdm.paired = True
    for _ in range(4):
        pdm.nonce.advance()
    pdm.seq = 10
    bench.now = _ms(m[12]) - t0
    assert pdm.basal([21] * 48, (11 * 3600 + 18 * 60 + 22) * S)["progress"] == 6
    pdm.configure_alerts([alert(7, 0, active=0, beep=0)])
    assert pdm.cannula()["progress"] == 7
    got = ask(m[14])["blocks"][0]                 # 0E: running, 58 pulses (here 52 + 10 + basal)
    want = real(m[15])["blocks"][0]
    assert (got["progress"], got["delivery"], got["minutes"], got["reservoir"]) == \
        (want["progress"], want["delivery"], want["minutes"], want["reservoir"])
    assert got["pulses_delivered"] == bench.plant.pushed > want["pulses_delivered"]
    pdm.seq = 6
    pdm.configure_alerts([alert(7, 0, active=0, beep=0)])   # nonce 8
    got = ask(m[16])["blocks"][0]                 # cancel a temp basal that is not running
    want = real(m[17])["blocks"][0]
    assert (got["type"], got["progress"], got["delivery"], got["last_prog_seq"]) == \
        (want["type"], want["progress"], want["delivery"], want["last_prog_seq"])
    got = ask(m[18])["blocks"][0]                 # the real temp basal
    assert got["delivery"] == real(m[19])["blocks"][0]["delivery"] == 2
    at(m[20])                                     # stale nonce: the exact resync answer
    assert bench.exchange(bytes.fromhex(m[20]["hex"])).hex() == m[21]["hex"]
    got = ask(m[22])["blocks"][0]                 # the retry with the resynced nonce
    want = real(m[23])["blocks"][0]
    assert (got["delivery"], got["last_prog_seq"], got["progress"]) == \
        (want["delivery"], want["last_prog_seq"], want["progress"])


def test_full_activation_progress_and_pulses():
    bench, pdm = new()
    replies = activate(pdm, bench.advance, FLAT_1U, 0)
    short, long_ = replies[0], replies[1]
    assert short["progress"] == 2 and 30 <= short["rssi"] <= 59 and short["address"] == ADDR
    assert (long_["pulse_volume"], long_["bolus_interval_eighths"], long_["prime_interval_eighths"],
            long_["prime_pulses"], long_["cannula_pulses"], long_["pod_life_hours"]) == \
        (0x1388, 0x10, 0x08, 0x34, 0x0A, 0x50)
    assert [r["progress"] for r in replies[2:]] == [3, 3, 4, 5, 6, 7, 8]
    prime, cannula = replies[4], replies[7]
    assert prime["delivery"] == 4 and prime["bolus_remaining"] == 52
    assert cannula["delivery"] == 5 and cannula["bolus_remaining"] == 10
    final = replies[-1]
    basal_pulses = final["pulses_delivered"] - 62
    assert 0 <= basal_pulses <= 1                 # 12 s of a 1 U/h basal
    assert final["pulses_delivered"] == bench.plant.pushed == bench.pod.delivered
    assert final["reservoir"] == 0x3FF and final["delivery"] == 1
    assert final["last_prog_seq"] == replies[7 - 0]["last_prog_seq"]


def test_minutes_count_from_pairing():
    bench, pdm = new()
    pdm.assign_address()
    bench.advance(30 * MIN)
    pdm.setup_pod()
    assert pdm.status()["minutes"] == 0
    bench.advance(7 * MIN + 59 * S)
    assert pdm.status()["minutes"] == 7


@pytest.mark.parametrize("paired", [False, True])
def test_activation_timeouts(paired):
    bench, pdm = new()
    pdm.assign_address()
    if paired:
        pdm.setup_pod()
        pdm.prime()
        bench.advance(HOUR - 1)
        assert bench.pod.progress == 5
        bench.advance(1)
    else:
        bench.advance(2 * HOUR)
    assert bench.pod.progress == 14
    assert bench.pod.delivery_bits() == 0
    if paired:
        assert pdm.status()["progress"] == 14
        assert pdm.deactivate()["progress"] == 15


def test_dropped_messages():
    bench, pdm = running()
    good = build_message(ADDR, 3, [{"type": 0x0E, "request": 0}])
    assert bench.exchange(good) is not None
    assert bench.exchange(good[:-1] + bytes([good[-1] ^ 1])) is None          # bad CRC
    assert bench.exchange(build_message(ADDR + 1, 3, [{"type": 0x0E, "request": 0}])) is None
    assert bench.exchange(build_message(0xFFFFFFFF, 3, [{"type": 0x0E, "request": 0}])) is None
    assert bench.exchange(good[:5]) is None


def test_reply_seq_is_request_plus_one_and_progression_is_not_enforced():
    bench, pdm = running()
    for seq in (6, 6, 6, 15, 3):
        reply = parse_message(bench.exchange(build_message(ADDR, seq, [{"type": 0x0E, "request": 1}])))
        assert reply["seq"] == (seq + 1) & 15


def test_last_prog_seq_follows_programming_commands_only():
    bench, pdm = running()
    pdm.seq = 9
    assert pdm.acknowledge(0)["last_prog_seq"] == 9
    assert pdm.status()["last_prog_seq"] == 9                      # 0E (seq 11) leaves it
    assert pdm.beep_config()["last_prog_seq"] == 13
    assert pdm.cancel(2)["last_prog_seq"] == 15


def test_fault_config_only_before_prime():
    bench, pdm = new()
    pdm.assign_address()
    pdm.setup_pod()
    assert pdm.fault_config()["type"] == 0x1D
    assert bench.pod.fault_config == (0, 0)
    pdm.prime()
    refused(bench, lambda: pdm.fault_config(), 0x0C)


def test_beep_config_and_alert_acknowledge():
    bench, pdm = running()
    pdm.beep_config(beep_type=2, basal=0x40, temp=0x3C, bolus=0x7C)
    assert bench.beeps[-1] == 2 and bench.pod.beep_config == (0x40, 0x3C, 0x7C)
    pdm.configure_alerts([alert(5, 1, repeat=0, beep=4)])
    bench.advance(MIN)
    assert pdm.status()["alerts"] == 0x20
    assert pdm.status(1)["alert_minutes"][5] > 0
    assert pdm.acknowledge(0x20)["alerts"] == 0


# ---------------------------------------------------------------- refusals change nothing

def _bad_checksum_bolus(pdm: Pdm):
    b1a, b17 = schedule.bolus_blocks(10, 0)
    b1a = dict(b1a, checksum=(b1a["checksum"] + 1) & 0xFFFF)
    return pdm.command([b1a, b17])


def _big_bolus(pdm: Pdm, pulses: int):
    """A consistent 1A + 17 pair for more immediate pulses than the codec's builder allows."""
    b1a, b17 = schedule.bolus_blocks(600, 0)
    elements = [{"segments": 1, "alternate": 0, "pulses": pulses}]
    b1a = dict(b1a, seconds_x8=pulses * 16, pulses=pulses, elements=elements,
               checksum=insulin.table_checksum(1, pulses * 16, pulses, elements))
    b17 = dict(b17, immediate_tenths=pulses * 10)
    return pdm.command([b1a, b17])


WRONG_STATE = {
    "second bolus": lambda p: (p.bolus(40), p.bolus(2))[1],
    "basal while basal runs": lambda p: p.basal(FLAT_1U, 0),
    "temp while temp runs": lambda p: (p.temp_basal(40, 2), p.temp_basal(10, 2))[1],
    "temp while suspended": lambda p: (p.cancel(1), p.temp_basal(40, 2))[1],
    "08 after prime": lambda p: p.fault_config(),
    "07 after pairing": lambda p: p.send([{"type": 0x07, "address": ADDR}])["blocks"][0],
    "03 after pairing": lambda p: p.send([{"type": 0x03, "address": ADDR, "unknown": 0x14, "packet_timeout": 4,
                                           "month": 1, "day": 1, "year": 20, "hour": 1, "minute": 1,
                                           "lot": LOT, "tid": TID}])["blocks"][0],
}


@pytest.mark.parametrize("case", sorted(WRONG_STATE))
def test_wrong_state_refused_and_nothing_changes(case):
    bench, pdm = running()
    send = WRONG_STATE[case]
    if case in ("second bolus", "temp while temp runs", "temp while suspended"):
        # the first command is accepted; only the second is refused
        first = {"second bolus": lambda: pdm.bolus(40), "temp while temp runs": lambda: pdm.temp_basal(40, 2),
                 "temp while suspended": lambda: pdm.cancel(1)}[case]
        assert first()["type"] == 0x1D
        second = {"second bolus": lambda: pdm.bolus(2), "temp while temp runs": lambda: pdm.temp_basal(10, 2),
                  "temp while suspended": lambda: pdm.temp_basal(40, 2)}[case]
        refused(bench, second, 0x0C)
    else:
        refused(bench, lambda: send(pdm), 0x0C)


def test_wrong_state_before_pairing_and_after_deactivation():
    bench, pdm = new()
    refused(bench, lambda: pdm.send([{"type": 0x0E, "request": 0}])["blocks"][0], 0x0C)
    refused(bench, lambda: pdm.setup_pod(), 0x0C)            # 03 before 07
    pdm.paired = False
    pdm.assign_address()
    pdm.setup_pod()
    refused(bench, lambda: pdm.basal(FLAT_1U, 0), 0x0C)      # basal before prime
    refused(bench, lambda: pdm.cannula(), 0x07)              # at progress 3 only the prime fits
    pdm.prime()
    bench.advance(60 * S)
    refused(bench, lambda: pdm.bolus(10), 0x0C)              # bolus before the basal
    assert pdm.deactivate()["progress"] == 15
    for send in (lambda: pdm.deactivate(), lambda: pdm.cancel(7), lambda: pdm.configure_alerts([alert(3, 60)]),
                 lambda: pdm.beep_config(), lambda: pdm.acknowledge(0xFF), lambda: pdm.bolus(1)):
        refused(bench, send, 0x0C)
    assert pdm.status()["progress"] == 15


OUT_OF_RANGE = {
    "cancel nothing": (lambda p: p.cancel(0), 0x07),
    "cancel bit 8": (lambda p: p.cancel(8), 0x07),
    "cancel beep 9": (lambda p: p.cancel(4, beep_type=9), 0x07),
    "beep config type 9": (lambda p: p.beep_config(beep_type=9), 0x07),
    "beep config type 0": (lambda p: p.beep_config(beep_type=0), 0x07),
    "beep config ack bit": (lambda p: p.beep_config(basal=0x80), 0x07),
    "alert silent beep": (lambda p: p.configure_alerts([alert(3, 60, beep=0)]), 0x07),
    "alert repeat 9": (lambda p: p.configure_alerts([alert(3, 60, repeat=9)]), 0x07),
    "bolus at 1 s": (lambda p: p.bolus(10, interval_ms=1000), 0x07),
    "bolus over 45 U": (lambda p: _big_bolus(p, 901), 0x07),
    "status type 7": (lambda p: p.send([{"type": 0x0E, "request": 7}])["blocks"][0], 0x07),
    "bad 1A checksum": (_bad_checksum_bolus, 0x0A),
    "17 without 1A": (lambda p: p.send([schedule.bolus_blocks(10, 0)[1]])["blocks"][0], 0x07),
    "1A without 17": (lambda p: p.command([schedule.bolus_blocks(10, 0)[0]]), 0x07),
    "status block from a PDM": (lambda p: p.send([{"type": 0x1D, "delivery": 1, "progress": 8,
                                                   "pulses_delivered": 0, "last_prog_seq": 0,
                                                   "bolus_remaining": 0, "alerts": 0, "minutes": 0,
                                                   "reservoir": 0}])["blocks"][0], 0x07),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_out_of_range_refused_and_nothing_changes(case):
    bench, pdm = running()
    send, code = OUT_OF_RANGE[case]
    refused(bench, lambda: send(pdm), code)


def test_a_refused_command_does_not_consume_the_nonce():
    bench, pdm = running()
    expected = bench.pod.nonce.current()
    pdm.cancel(0)                                  # refused: the PDM spent a nonce, the pod did not
    assert bench.pod.nonce.current() == expected
    assert pdm.cancel(2)["type"] == 0x1D           # the PDM resyncs and carries on
    assert pdm.resyncs == 1


def test_setup_with_wrong_lot_refused():
    bench, pdm = new()
    pdm.assign_address()
    pdm.lot = LOT + 1
    refused(bench, lambda: pdm.setup_pod(), 0x07)


# ---------------------------------------------------------------- nonces

RESYNC_VECTORS = [   # PROTOCOL-NOTES §3.3: lot, tid, failed nonce, seq, word, new nonce
    (42539, 140445, 0x2E07C7C7, 9, 0x92C4, 0x40CCDACB),
    (42125, 170175, 0x851072AA, 1, 0x2FFA, 0xF1488FC3),
    (0xA742, 0x7F050, 0x8ECD89D7, 13, 0xA197, 0xDA1289D7),
    (43620, 560313, 2232447658, 5, 0xA9E4, 1521036535),
]


@pytest.mark.parametrize("lot,tid,failed,seq,word,new_nonce", RESYNC_VECTORS)
def test_bad_nonce_resync_with_real_vectors(lot, tid, failed, seq, word, new_nonce):
    bench, pdm = new(lot=lot, tid=tid)
    pdm.assign_address()
    pdm.setup_pod()
    before = frozen(bench)
    msg = build_message(ADDR, seq, [{"type": 0x1F, "nonce": failed, "beep_type": 0, "cancel": 2}])
    reply = parse_message(bench.exchange(msg))
    assert reply["seq"] == (seq + 1) & 15
    assert reply["blocks"] == [{"type": 0x06, "code": 0x14, "word": word}]
    after = pod_state(bench.pod)
    assert after["bad_nonces"] == 1 and after["last_prog_seq"] == before["last_prog_seq"]
    assert {k: v for k, v in after.items() if k not in ("nonce", "bad_nonces")} == \
        {k: v for k, v in before.items() if k not in ("nonce", "bad_nonces")}
    assert bench.pod.nonce.current() == new_nonce
    retry = build_message(ADDR, seq, [{"type": 0x1F, "nonce": new_nonce, "beep_type": 0, "cancel": 2}])
    status = parse_message(bench.exchange(retry))["blocks"][0]
    assert status["type"] == 0x1D and status["last_prog_seq"] == seq


def test_next_nonce_after_a_successful_resync():
    # OmniKit PodCommsSessionTests.testNonceResync: the nonce after the successful retry
    bench, pdm = new(lot=43620, tid=560313)
    pdm.assign_address()
    pdm.setup_pod()
    bench.exchange(build_message(ADDR, 5, [{"type": 0x1F, "nonce": 2232447658, "beep_type": 0, "cancel": 2}]))
    bench.exchange(build_message(ADDR, 5, [{"type": 0x1F, "nonce": 1521036535, "beep_type": 0, "cancel": 2}]))
    assert bench.pod.nonce.current() == 545302454


def test_seed_counts_bad_nonces():
    bench, pdm = running()
    for k in (1, 2, 3):
        stale = 0x12345678 + k   # another message each time (the same bytes again would be a retry)
        seq = pdm.seq
        reply = parse_message(bench.exchange(build_message(ADDR, seq, [{"type": 0x11, "nonce": stale, "mask": 0}])))
        assert reply["blocks"][0]["word"] == resync_word(stale, seq, LOT, TID, k)
        assert bench.pod.nonce.current() == NonceState(LOT, TID, k).current()
    assert pdm.acknowledge(0)["type"] == 0x1D and pdm.resyncs == 1


def test_all_nonce_blocks_of_a_message_carry_the_same_nonce():
    bench, pdm = running()
    n = bench.pod.nonce.current()
    blocks = [{"type": 0x11, "nonce": n, "mask": 0}, {"type": 0x19, "nonce": n ^ 1, "alerts": [alert(3, 60)]}]
    reply = parse_message(bench.exchange(build_message(ADDR, 0, blocks)))["blocks"][0]
    assert reply["code"] == 0x14
    pdm.nonce = NonceState(LOT, TID, 1)
    both = [{"type": 0x11, "nonce": 0, "mask": 0}, {"type": 0x19, "nonce": 0, "alerts": [alert(3, 60)]},
            {"type": 0x0E, "request": 0}]
    assert pdm.command(both)["type"] == 0x1D     # 11 + 19 + a trailing 0E pad, one nonce


# ---------------------------------------------------------------- delivery

def test_basal_pulses_exact_whatever_the_step_pattern():
    one, p1 = running()
    many, p2 = running()
    start = one.pod.delivered
    one.advance(3 * HOUR)                          # one jump
    for _ in range(3 * 60):                        # minute by minute
        many.advance(MIN)
    assert one.pod.delivered == many.pod.delivered == one.plant.pushed
    assert one.pod.to_state() == many.pod.to_state()
    # 1 U/h = a pulse every 180 s: any 3 h window holds exactly 60
    assert one.pod.delivered - start == 60


def test_step_returns_the_next_pulse_deadline():
    bench, pdm = running()
    d = bench.pod.step(bench.now)
    assert d is not None and d > bench.now
    before = bench.pod.delivered
    bench.pod.step(d - 1)
    assert bench.pod.delivered == before
    bench.pod.step(d)
    assert bench.pod.delivered == before + 1


def test_temp_basal_absolute_then_back_to_basal():
    bench, pdm = running()
    base = bench.pod.delivered
    t0 = bench.now
    assert pdm.temp_basal(60, 2)["delivery"] == 2          # 3 U/h for 1 h: 60 pulses
    bench.advance(HOUR)
    assert bench.pod.delivered - base == 60
    assert pdm.status()["delivery"] == 1
    base = bench.pod.delivered
    bench.advance(HOUR)
    assert bench.pod.delivered - base == 20                 # the 1 U/h basal again
    assert bench.now - t0 == 2 * HOUR


def test_zero_temp_basal():
    bench, pdm = running()
    base = bench.pod.delivered
    assert pdm.temp_basal(0, 4)["delivery"] == 2
    bench.advance(2 * HOUR - 1)
    assert bench.pod.delivered == base and pdm.status()["delivery"] == 2
    bench.advance(1)
    assert pdm.status()["delivery"] == 1
    bench.advance(HOUR)
    assert bench.pod.delivered - base == 20


def test_cancel_temp_returns_to_basal():
    bench, pdm = running()
    pdm.temp_basal(0, 4)
    bench.advance(HOUR)
    base = bench.pod.delivered
    assert pdm.cancel(2)["delivery"] == 1
    bench.advance(HOUR)
    assert bench.pod.delivered - base == 20


def test_immediate_bolus_two_seconds_per_pulse_on_top_of_basal():
    bench, pdm = running()
    basal_before = bench.pod.delivered
    r = pdm.bolus(30)
    assert r["delivery"] == 5 and r["bolus_remaining"] == 30
    bench.advance(30 * S)
    s = pdm.status()
    assert s["bolus_remaining"] == 15 and s["delivery"] == 5   # one pulse every 2 s
    bench.advance(30 * S)
    s = pdm.status()
    assert s["bolus_remaining"] == 0 and s["delivery"] == 1
    assert bench.pod.delivered - basal_before in (30, 31)      # + at most one basal pulse in a minute


def test_extended_bolus_spread_evenly():
    bench, pdm = running(rates=[1] * 48)                   # 0.05 U/h: basal barely moves
    r = pdm.bolus(0, extended_pulses=20, extended_half_hours=2)
    assert r["delivery"] == 9 and r["bolus_remaining"] == 20
    left = []
    start = bench.pod.delivered
    for _ in range(4):
        bench.advance(15 * MIN)
        left.append(pdm.status()["bolus_remaining"])
    assert left == [15, 10, 5, 0]                            # a pulse every 180 s
    assert bench.pod.delivered - start - 20 in (0, 1)        # + the hourly basal pulse
    assert pdm.status()["delivery"] == 1


def test_dual_wave_bolus():
    bench, pdm = running(rates=[1] * 48)
    r = pdm.bolus(10, extended_pulses=10, extended_half_hours=1)
    assert r["delivery"] == 5 and r["bolus_remaining"] == 20
    bench.advance(20 * S)
    s = pdm.status()
    assert s["delivery"] == 9 and s["bolus_remaining"] == 10
    bench.advance(30 * MIN)
    assert pdm.status()["bolus_remaining"] == 0


def test_bolus_cancel_reports_undelivered():
    bench, pdm = running()
    pdm.bolus(40)
    start = bench.pod.delivered
    bench.advance(21 * S)
    r = pdm.cancel(4)
    given = bench.pod.delivered - start
    assert given == 10 and r["bolus_remaining"] == 30
    assert r["delivery"] == 1
    bench.advance(MIN)
    assert pdm.status()["bolus_remaining"] == r["bolus_remaining"]
    assert bench.pod.delivered - start - given <= 1          # only basal after the cancel


def test_suspend_and_resume():
    bench, pdm = running()
    r = pdm.cancel(3, beep_type=2)
    assert r["delivery"] == 0 and bench.beeps[-2:] == [2, 2]
    before = bench.pod.delivered
    bench.advance(5 * HOUR)
    assert bench.pod.delivered == before == bench.plant.pushed
    assert pdm.basal(FLAT_1U, 0)["delivery"] == 1
    bench.advance(HOUR)
    assert bench.pod.delivered - before == 20


def test_reservoir_reporting_progress_9_and_empty_fault():
    bench, pdm = running(fill=1100)
    assert pdm.status()["reservoir"] == 0x3FF
    left = bench.pod.reservoir()
    pdm.bolus(left - 1000)
    bench.advance((left - 1000) * 2 * S + S)
    s = pdm.status()
    assert s["progress"] == 9 and s["reservoir"] == bench.pod.reservoir() <= 1000
    while bench.pod.fault_code == 0:
        if bench.pod.delivery.bolus is None:
            pdm.bolus(min(600, bench.pod.reservoir() + 5))
        bench.advance(HOUR)
    assert bench.pod.fault_code == 0x18 and bench.pod.progress == 13
    assert bench.pod.delivered == 1100 == bench.plant.pushed
    d = pdm.status()
    assert d["type"] == 0x02 and d["subtype"] == 2 and d["fault_code"] == 0x18
    assert d["delivery"] == 0 and d["reservoir"] == 0 and d["progress_at_fault"] == 9
    refused(bench, lambda: pdm.bolus(1), 0x0C)
    assert pdm.deactivate()["progress"] == 15


def test_pod_life_ends_at_80_hours():
    bench, pdm = running()
    paired = bench.pod.paired_ms
    bench.now = paired + 80 * HOUR - 1
    bench.pod.step(bench.now)
    assert bench.pod.fault_code == 0
    before = bench.pod.delivered
    bench.advance(1)
    assert bench.pod.fault_code == 0x1C and bench.pod.progress == 13
    bench.advance(HOUR)
    assert bench.pod.delivered <= before + 1
    d = pdm.status()
    assert d["type"] == 0x02 and d["fault_minutes"] == 4800 and d["delivery"] == 0
    assert pdm.cancel(7)["type"] == 0x02            # a faulted pod answers with the detailed status
    assert pdm.deactivate()["progress"] == 15


def test_occlusion_faults_the_pod():
    bench, pdm = running()
    bench.plant.set_occluded(True)
    pdm.bolus(100)
    bench.advance(300 * S)
    assert bench.pod.fault_code == 0x14
    d = pdm.status()
    assert d["occlusion_type"] == 1 and d["bolus_in_progress"] == 1 and d["bolus_remaining"] > 0


def test_cancel_with_beep_f_faults():
    bench, pdm = running()
    assert pdm.cancel(4, beep_type=0x0F)["fault_code"] == 0x37


# ---------------------------------------------------------------- status requests

@pytest.mark.parametrize("request_type", [1, 2, 3, 5, 6, 0x46, 0x50, 0x51])
def test_pod_info_types(request_type):
    bench, pdm = running()
    r = pdm.status(request_type)
    assert r["type"] == 0x02 and r["subtype"] == request_type
    if request_type == 5:
        assert (r["month"], r["day"], r["year"], r["hour"], r["minute"]) == (10, 10, 16, 11, 18)
    if request_type == 2:
        assert r["pulses_delivered"] == bench.pod.delivered and r["fault_code"] == 0 and r["progress"] == 8


# ---------------------------------------------------------------- persistence

def test_restore_continues_exactly():
    a, pa = running()
    pa.bolus(50)
    pa.temp_basal(40, 2)
    a.advance(45 * S)
    state = a.pod.to_state()
    b = InProcessPod(LOT, TID, 4000, now_ms=a.now)
    b.plant.reservoir_pulses = a.plant.reservoir_pulses
    b.pod.restore(state)
    assert b.pod.to_state() == state
    a.advance(2 * HOUR)
    b.advance(2 * HOUR)
    assert a.pod.to_state() == b.pod.to_state()


def test_crc_of_replies():
    bench, pdm = running()
    raw = bench.exchange(build_message(ADDR, 2, [{"type": 0x0E, "request": 0}]))
    assert crc16(raw[:-2]) == int.from_bytes(raw[-2:], "big")
    assert encode_block(parse_message(raw)["blocks"][0]) == raw[6:-2]


def test_auto_off_alert_faults_unless_the_pdm_is_heard():
    quiet, pq = running()
    pq.configure_alerts([alert(0, 10, auto_off=1, duration=5, repeat=0, beep=2)])
    quiet.advance(14 * MIN)
    assert quiet.pod.fault_code == 0
    quiet.advance(2 * MIN)                          # fired at 10 min, unacknowledged for 5 min
    assert quiet.pod.fault_code == 0x29 and quiet.pod.progress == 13
    talked, pt = running()
    pt.configure_alerts([alert(0, 10, auto_off=1, duration=5, repeat=0, beep=2)])
    for _ in range(6):
        talked.advance(5 * MIN)
        assert pt.status()["type"] == 0x1D          # each message restarts the countdown
    assert talked.pod.fault_code == 0


def test_pod_restores_from_its_store_without_the_running_bolus(tmp_path):
    from pod.core import Pod
    from pod.hal.storage import FileStorage
    from pod.store import Store

    a, pa = running()
    store = Store(FileStorage(str(tmp_path)))
    a.pod.store = store
    a.pod.save()                                     # the snapshot the journal starts from
    pa.bolus(10)
    assert store.load() != a.pod.to_state()          # a message is journaled, not a new snapshot
    a.advance(4 * S)
    assert store.load_delivered() == a.pod.delivered
    left = a.pod.bolus_remaining()
    assert 0 < left < 10
    b = Pod(a.hal, LOT, TID, 4000, a.now, store=Store(FileStorage(str(tmp_path))))
    assert b.delivery.bolus is None and b.bolus_remaining() == left and b.delivery_bits() == 1
    want = a.pod.to_state()
    got = b.to_state()
    for k in ("delivery",):
        del want[k], got[k]
    assert got == want
    other = Store(FileStorage(str(tmp_path / "other")))
    other.save({"v": 1, "lot": LOT})                 # valid record, but not a pod state
    c = Pod(a.hal, LOT, TID, 4000, a.now, store=other)
    assert c.progress == 13 and c.fault_code == 0x3D and c.store is other
    assert any("unusable" in line for line in a.logs)
    fresh = Pod(a.hal, LOT, TID, 4000, a.now, store=Store(FileStorage(str(tmp_path / "new"))))
    assert fresh.progress == 2 and fresh.fault_code == 0
