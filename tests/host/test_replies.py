"""Issue 9, "replies matched to requests": the handset against the REAL firmware over TCP through a
radio relay that duplicates, drops, reorders or rewrites the Eros frames.
"""
from __future__ import annotations

import random

import pytest

from eros import constants as C
from eros import message as eros_message
from eros.nonce import NonceState
from handset.errors import BadReply, PodRejected, PodUnreachable, Unconfirmed
from handset.pod import PodClient
from handset.session import Session
from handset.transport import CH_BENCH, Link
from handset_rig import RATES, Hold, RadioRelay, handset


def client_for(url: str, state, timeout: float = 1.0) -> PodClient:
    client = PodClient.open(url, state, reply_timeout_s=timeout)
    client.wait_ms = lambda ms: client.bench("advance", ms=ms)
    return client


def test_pairing_survives_duplicated_replies(firmware_tcp, tmp_path):
    """Pairing sends seq 0 twice: a late copy of the first reply must not answer the second message."""
    twice = lambda payload: [payload, payload]  # noqa: E731
    with RadioRelay(firmware_tcp.tcp_port, to_pod=twice, to_handset=twice) as relay:
        with client_for(relay.url, tmp_path / "hs") as client:
            assert client.activate(RATES, time_of_day_ms=8 * 3600_000).running


def test_a_duplicated_bad_nonce_refusal_is_not_taken_for_the_resends_answer(firmware_tcp, tmp_path):
    """Before: the duplicate of the 06 14 refusal answered the resend; the handset said "not run"
    (exit 6) while the pod delivered the whole bolus."""
    twice = lambda payload: [payload, payload]  # noqa: E731 - every frame, both ways, arrives twice
    with RadioRelay(firmware_tcp.tcp_port) as relay:
        with client_for(relay.url, tmp_path / "hs") as client:
            client.activate(RATES, time_of_day_ms=8 * 3600_000)
            client.temp_basal(0, 4)  # no basal pulses: the delivered count then moves only by the bolus
            before = client.status().pulses_delivered
            relay.transforms.update(to_pod=twice, to_handset=twice)
            client.session.nonce = NonceState(client.record.lot, client.record.tid, 7)  # a stale nonce
            st = client.bolus(20)
            assert st.bolus_running
            settles = [r for r in client.store.history() if r.get("kind") == "settle"]
            assert settles[-1]["status"] == "confirmed" and settles[-1]["resynced"] is True
            client.bench("advance", ms=60_000)
            after = client.status()
            assert after.pulses_delivered - before == 20 and not after.bolus_running


def test_a_refusal_then_success_is_success_via_the_cli(firmware_tcp, tmp_path):
    state = tmp_path / "hs"
    assert handset(["activate"], state, firmware_tcp.url).returncode == 0
    with PodClient.open(firmware_tcp.url, state) as client:  # make the handset's nonce stale
        assert client.record is not None
        client.record.nonce_words = list(NonceState(client.record.lot, client.record.tid, 9).to_words())
        client.store.save_pod(client.record)
    result = handset(["bolus", "0.5"], state, firmware_tcp.url)
    assert result.returncode == 0 and "Bolus done: 0.50 U delivered." in result.stdout, result.stderr


def _absurd(reply: bytes) -> bytes:
    msg = eros_message.parse_message(reply)
    blocks = msg["blocks"]
    if not blocks or blocks[0]["type"] != C.BLOCK_STATUS:
        return reply
    b = dict(blocks[0], progress=0, pulses_delivered=0x1FFF, bolus_remaining=0x3FF, minutes=0x1FFF, alerts=0xFF)
    return eros_message.build_message(msg["address"], msg["seq"], [b])


def test_an_implausible_status_is_flagged_not_shown(firmware_tcp, tmp_path):
    state = tmp_path / "hs"
    tamper = {"on": False}
    with RadioRelay(firmware_tcp.tcp_port,
                    to_handset=lambda p: [_absurd(p) if tamper["on"] else p]) as relay:
        assert handset(["activate"], state, relay.url).returncode == 0
        tamper["on"] = True
        result = handset(["status"], state, relay.url)
        assert result.returncode == 10 and "contradicts what the handset knows" in result.stderr
        assert "went back from 8 to 0" in result.stderr or "went back from 9 to 0" in result.stderr
        assert "Pod status" not in result.stdout
        tamper["on"] = False
        assert handset(["status"], state, relay.url).returncode == 0


class Radio:
    """A seeded bad radio: each frame is passed, dropped, duplicated or held back (reordered)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counts = {"pass": 0, "drop": 0, "duplicate": 0, "hold": 0}

    def __call__(self, payload: bytes) -> list[bytes] | Hold:
        roll = self.rng.random()
        action = "drop" if roll < 0.08 else "duplicate" if roll < 0.2 else "hold" if roll < 0.27 else "pass"
        self.counts[action] += 1
        if action == "hold":
            return Hold()
        return [] if action == "drop" else [payload, payload] if action == "duplicate" else [payload]


def _settle(client: PodClient) -> None:
    for _ in range(10):
        try:
            client.status()
            return
        except (PodUnreachable, BadReply):
            continue
    raise AssertionError("no status read got through ten tries")


def test_every_command_over_a_radio_that_duplicates_drops_and_reorders(firmware_tcp, tmp_path):
    """Each command either is confirmed, or is refused, or stays unconfirmed until the next status
    read settles it; the handset's record of insulin always equals what the pod delivered."""
    radio_to_pod, radio_to_handset = Radio(11), Radio(12)
    with RadioRelay(firmware_tcp.tcp_port) as relay:
        client = client_for(relay.url, tmp_path / "hs", timeout=0.5)
        with client:
            client.activate(RATES, time_of_day_ms=8 * 3600_000)
            client.temp_basal(0, 24)  # no basal pulses during the run: every stroke is a bolus pulse
            start = client.status().pulses_delivered
            relay.transforms.update(to_pod=radio_to_pod, to_handset=radio_to_handset)
            commands = [
                lambda: client.bolus(3), lambda: client.cancel_bolus(), lambda: client.bolus(2),
                lambda: client.temp_basal(0, 12), lambda: client.cancel_temp(), lambda: client.suspend(),
                lambda: client.bolus(1), lambda: client.resume(), lambda: client.set_basal(RATES),
                lambda: client.temp_basal(0, 24), lambda: client.acknowledge_alerts(0xFF),
                lambda: client.silence(0x10), lambda: client.beep(2), lambda: client.detailed_status(),
                lambda: client.triggered_alerts(), lambda: client.pulse_log_all(), lambda: client.activation_time(),
                lambda: client.bolus(4),
            ]
            for n, command in enumerate(commands):
                try:
                    command()
                except (Unconfirmed, PodUnreachable, BadReply, PodRejected):
                    pass  # a lost or refused exchange: the next status read settles it
                except Exception as exc:  # noqa: BLE001 - anything else is a handset bug
                    if "suspended" in str(exc) or "Nothing" in str(exc) or "nothing" in str(exc):
                        continue
                    raise AssertionError(f"command {n % len(commands)} raised {exc!r}") from exc
                client.bench("advance", ms=20_000)
                _settle(client)
            relay.transforms.update(to_pod=lambda p: [p], to_handset=lambda p: [p])
            client.bench("advance", ms=10 * 60_000)
            final = client.status()
            assert client.store.unsettled() == []
            from handset import history as H
            boluses = [b for b in H.boluses(client.store.history()) if b.pod == f"{client.record.address:08x}"]
            counted = sum(b.delivered for b in boluses)
            # The history's boluses are exactly the pod's strokes since the start (no basal ran).
            assert final.pulses_delivered - start == counted, (final, boluses)
            assert all(b.final for b in boluses)
            # Deactivation through the same bad radio: repeated until the pod confirms it.
            relay.transforms.update(to_pod=radio_to_pod, to_handset=radio_to_handset)
            for _ in range(10):
                try:
                    client.deactivate()
                    break
                except (Unconfirmed, PodUnreachable, BadReply):
                    continue
            assert client.record is None
    assert sum(radio_to_pod.counts.values()) > 50 and radio_to_handset.counts["duplicate"] > 3
    assert radio_to_handset.counts["drop"] > 0 and radio_to_handset.counts["hold"] > 0


def test_a_lost_setup_reply_is_asked_again_with_the_same_bytes(firmware_tcp, tmp_path):
    """Before: the pod was paired but the handset had no record; a second `activate` was refused."""
    state = tmp_path / "hs"
    lose = {"on": True}
    relay: RadioRelay

    def to_handset(reply: bytes) -> list[bytes]:
        return [] if lose["on"] and relay.requests[-1][6] == C.BLOCK_SETUP_POD else [reply]

    with RadioRelay(firmware_tcp.tcp_port, to_handset=to_handset) as relay:
        first = handset(["--timeout", "0.3", "activate"], state, relay.url)
        assert first.returncode == 3 and "repeat the activation" in first.stderr
        setups = [m for m in relay.requests if m[6] == C.BLOCK_SETUP_POD]
        lose["on"] = False
        second = handset(["activate"], state, relay.url)
        assert second.returncode == 0, second.stderr
        again = [m for m in relay.requests if m[6] == C.BLOCK_SETUP_POD][len(setups):]
        assert again and again[0] == setups[0]  # the very same bytes
        assert not (state / "pairing.json").exists()


@pytest.mark.parametrize("seed", [21, 22])
def test_activation_over_a_radio_that_duplicates_drops_and_reorders(firmware_tcp, tmp_path, seed):
    """Pairing, alerts, prime, basal and cannula through the bad radio: the pod ends running, and the
    handset either says so or says what to do (repeating `activate` carries on where it stopped)."""
    with RadioRelay(firmware_tcp.tcp_port, to_pod=Radio(seed), to_handset=Radio(seed + 100)) as relay:
        with client_for(relay.url, tmp_path / "hs", timeout=0.5) as client:
            for _ in range(6):
                try:
                    final = client.activate(RATES, time_of_day_ms=8 * 3600_000)
                    break
                except (Unconfirmed, PodUnreachable, BadReply):
                    continue
            assert final.running and client.record is not None
            assert client.store.unsettled() == []


def test_a_stale_bench_reply_is_discarded(firmware_tcp):
    link = Link.open(firmware_tcp.url)
    try:
        session = Session(link)
        # An earlier request whose reply comes late: its id is not the next request's.
        link.send(CH_BENCH, b'{"op":"info","id":4242}')
        answer = session.bench({"op": "occlusion"}, timeout_s=10)
        assert answer["id"] != 4242 and "threshold_pulses" in answer
        again = session.bench({"op": "info"}, timeout_s=10)
        assert "clock" in again and again["id"] == answer["id"] + 1
    finally:
        link.close()


@pytest.mark.parametrize("given", ["0", "soon"])
def test_a_bad_timeout_is_refused_with_a_sentence(tmp_path, given):
    result = handset(["--timeout", given, "status"], tmp_path, None)
    assert result.returncode == 2 and "seconds to wait" in result.stderr
    env = handset(["status"], tmp_path, "socket://127.0.0.1:9", env={"HANDSET_TIMEOUT": given})
    assert env.returncode == 2 and "HANDSET_TIMEOUT" in env.stderr


def test_the_timeout_is_settable_and_derived_from_the_link(tmp_path):
    from handset.timeouts import Timeouts
    assert Timeouts.for_link("socket://127.0.0.1:1").reply_s == 1.5
    assert Timeouts.for_link("127.0.0.1:1").reply_s == 1.5
    assert Timeouts.for_link("/dev/ttyACM0").reply_s == 3.0
    assert Timeouts.for_link("/dev/ttyACM0", 4.0).bench_s == 16.0


def test_a_slow_board_gets_longer_timeouts_unless_one_was_chosen():
    from handset.timeouts import Timeouts, for_board
    base = Timeouts(1.5)
    assert for_board(base, 0.1, {"firmware": {"platform": "rp2"}}).reply_s == 6.0  # type: ignore[union-attr]
    assert for_board(base, 2.0, {"firmware": {"platform": "linux"}}).reply_s == 8.0  # type: ignore[union-attr]
    assert for_board(base, 0.05, {"firmware": {"platform": "linux"}}) is None
    assert for_board(base, 99.0, {}).reply_s == 60.0  # type: ignore[union-attr]


def test_activation_polling_ends_when_the_pods_clock_does_not_move():
    """A board whose pod never moves on (seen on an emulated Pico whose virtual clock did not deliver):
    the handset stops after the pod's own set-up time of waiting, with a sentence, not forever.
    (No firmware can be made to do this on demand, so the status comes from a stand-in.)"""
    from handset import flows
    from handset.podstatus import Status

    stuck = Status(delivery=4, progress=4, pulses_delivered=0, last_prog_seq=6, bolus_remaining=52, alerts=0,
                   minutes=0, reservoir=None)

    class StuckPod:
        waited = 0

        def wait_ms(self, ms: int) -> None:
            self.waited += ms

        def status(self) -> Status:
            return stuck

    pod = StuckPod()
    with pytest.raises(BadReply) as caught:
        flows._poll_until(pod, 5, stuck, lambda step, detail: None, "prime")  # type: ignore[arg-type]
    assert "did not finish the prime" in str(caught.value)
    assert flows.SETUP_LIMIT_MINUTES * 60_000 < pod.waited < (flows.SETUP_LIMIT_MINUTES + 2) * 60_000
