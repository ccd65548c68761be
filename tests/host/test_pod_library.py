"""The handset library (PodClient) against the REAL firmware under unix MicroPython.

The pod runs on its virtual clock; the handset waits by asking the bench to advance it. Every
test runs over TCP and over a pty (the ``firmware`` fixture), except the relay tests (TCP).
"""
from __future__ import annotations

import socket
import time

import pytest

from eros import constants as C
from eros.message import parse_message
from handset.errors import InvalidInput, NoPodPaired, PodFaulted, PodUnreachable, Unconfirmed
from handset.pod import PodClient
from handset.state import CONFIRMED, StateStore

RATES = [20] * 16 + [30] * 16 + [24] * 16  # 1.0, 1.5 and 1.2 U/h


def open_client(url: str, state_dir, **kw) -> PodClient:
    client = PodClient.open(url, state_dir, reply_timeout_s=kw.pop("reply_timeout_s", 2.0), **kw)
    client.wait_ms = lambda ms: client.bench("advance", ms=ms)
    return client


def activated(url: str, state_dir, **kw) -> PodClient:
    client = open_client(url, state_dir, **kw)
    client.activate(RATES, time_of_day_ms=8 * 3600 * 1000, low_reservoir_units=20, expiry_reminder_hours=1)
    return client


def last_settle(store: StateStore, command: str) -> str | None:
    ids = [r["id"] for r in store.history() if r.get("kind") == "command" and r.get("command") == command]
    return store.command_status(ids[-1]) if ids else None


def test_activation_runs_the_real_pdm_sequence(firmware, tmp_path):
    steps: list[str] = []
    with open_client(firmware.url, tmp_path / "hs") as client:
        final = client.activate(RATES, time_of_day_ms=8 * 3600 * 1000, progress=lambda s, d: steps.append(s))
        assert final.progress in (C.PROGRESS_ABOVE_50_UNITS, C.PROGRESS_50_OR_LESS_UNITS)
        assert final.basal_running and not final.bolus_running
        rec = client.record
        assert rec is not None and 0x1F000000 <= rec.address <= 0x1F0FFFFF
        # Slot 7 ends as the 72 h advisory, slot 2 at 79 h, slot 0 off: the real PDM's seq-12 command.
        assert sorted(rec.alerts) == ["0", "2", "3", "4", "7"]
        assert rec.alerts["7"]["duration_minutes"] == 420 and rec.alerts["7"]["trigger"] == 4319
        # Prime (52) and cannula (10) went through the mechanism (the pod may count fewer for prime).
        assert final.pulses_delivered >= 10
        info = client.bench("info")["pod"]
    assert steps[0] == "pair" and steps[-1] == "done"
    assert {"alerts", "prime", "basal", "cannula"} <= set(steps)
    history = StateStore(tmp_path / "hs")
    assert history.unsettled() == []
    cmds = [r["command"] for r in history.history() if r.get("kind") == "command"]
    assert cmds == ["alert_low_reservoir", "alert_finish_setup", "prime", "alert_expiration", "activation_basal",
                    "alert_after_basal", "insert_cannula"]
    assert all(history.command_status(r["id"]) == CONFIRMED for r in history.history() if r.get("kind") == "command")
    assert info  # the bench answers with the pod's own view


def test_status_bolus_and_its_confirmation(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        before = client.status()
        after_cmd = client.bolus(20)
        assert after_cmd.bolus_running and 0 < after_cmd.bolus_remaining <= 20
        client.bench("advance", ms=60_000)  # 20 pulses at 2 s each
        done = client.status()
        assert not done.bolus_running and done.bolus_remaining == 0
        assert done.pulses_delivered - before.pulses_delivered >= 20
        assert last_settle(client.store, "bolus") == CONFIRMED


def test_cancel_bolus_reports_what_was_not_delivered(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        client.bolus(100)
        client.bench("advance", ms=20_000)
        cancelled = client.cancel_bolus()
        assert not cancelled.bolus_running
        assert 70 <= cancelled.bolus_remaining <= 95


def test_temp_basal_and_cancel(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        st = client.temp_basal(rate_pph=40, half_hours=2)
        assert st.temp_basal_running
        assert client.record.temp_basal["rate_pph"] == 40
        # A second temp basal replaces the first (cancel, then program), as the PDM does.
        st = client.temp_basal(rate_pph=0, half_hours=1)
        assert st.temp_basal_running
        st = client.cancel_temp()
        assert not st.temp_basal_running and st.basal_running
        assert client.record.temp_basal is None


def test_suspend_resume_and_new_basal(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        st = client.suspend()
        assert st.suspended
        st = client.resume()
        assert st.basal_running
        st = client.set_basal([10] * 48)
        assert st.basal_running and client.record.basal_rates_pph == [10] * 48


def test_deactivate_archives_the_pod(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        answer = client.deactivate()
        assert getattr(answer, "progress", None) == C.PROGRESS_INACTIVE or answer.get("progress") == 15
        assert client.record is None
        with pytest.raises(NoPodPaired):
            client.status()
    assert list((tmp_path / "hs" / "pods").glob("*.json"))


def test_bad_input_sends_nothing(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        seq = client.record.next_seq
        for bad in (lambda: client.bolus(601), lambda: client.bolus(0), lambda: client.temp_basal(601, 1),
                    lambda: client.temp_basal(10, 25), lambda: client.set_basal([10] * 47),
                    lambda: client.bolus(5, extended_pulses=5)):
            with pytest.raises(InvalidInput):
                bad()
        assert client.record.next_seq == seq


def test_state_survives_a_new_handset_process(firmware, tmp_path):
    """A second PodClient on the same state directory continues the nonce and seq sequence."""
    state = tmp_path / "hs"
    client = activated(firmware.url, state)
    client.bolus(2)
    client.close()
    with open_client(firmware.url, state) as again:
        st = again.temp_basal(10, 1)  # needs the right nonce: no resync
        assert st.temp_basal_running
        resyncs = [r for r in again.store.history() if r.get("resynced")]
        assert resyncs == []


def test_nonce_resync_when_the_handset_state_is_stale(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        # Corrupt the handset's nonce state: rewind it to a fresh generator (the pod is far ahead).
        from eros.nonce import NonceState

        client.session.nonce = NonceState(client.record.lot, client.record.tid, 7)
        st = client.bolus(4)
        assert st.bolus_running
        confirm = [r for r in client.store.history() if r.get("kind") == "settle" and r.get("status") == CONFIRMED]
        assert confirm[-1]["resynced"] is True
        # And the next command works without another resync.
        st = client.cancel_bolus()
        assert not st.bolus_running
        settles = [r for r in client.store.history() if r.get("kind") == "settle"]
        assert settles[-1]["status"] == CONFIRMED and settles[-1].get("resynced") is False


def test_faulted_pod_raises_pod_faulted(firmware, tmp_path):
    with activated(firmware.url, tmp_path / "hs") as client:
        client.bench("occlude", on=True)
        client.bolus(100)  # more missed pulses than the pod's occlusion threshold (60)
        client.bench("advance", ms=10 * 60_000)
        with pytest.raises(PodFaulted) as caught:
            client.status()
        assert caught.value.exit_code == 4 and caught.value.fault_name in str(caught.value)
        details = client.detailed_status()
        assert details["fault_code"] == caught.value.fault_code
        with pytest.raises(PodFaulted):
            client.bolus(1)
        # A faulted pod can still be deactivated.
        client.deactivate()
        assert client.record is None


def test_lost_reply_is_retried_with_the_same_bytes_and_runs_once(drop_relay, tmp_path):
    with activated(drop_relay.url, tmp_path / "hs") as client:
        before = client.status()
        drop_relay.drop_next_reply(after_block=C.BLOCK_INSULIN_SCHEDULE)
        n = len(drop_relay.requests)
        st = client.bolus(10)
        sent = drop_relay.requests[n + 1:]  # after the status read a bolus starts with, as the PDM does
        assert len(sent) >= 2 and sent[0] == sent[1]  # the same bytes, resent once
        # Whatever the pod answers to the repeat (its cached reply, or a refusal that a status read
        # then settles), nothing else programming went out and the bolus is confirmed once.
        assert all(parse_message(m)["blocks"][0]["type"] == C.BLOCK_GET_STATUS for m in sent[2:])
        assert drop_relay.dropped == 1 and st.bolus_running
        assert last_settle(client.store, "bolus") == CONFIRMED
        client.bench("advance", ms=60_000)
        after = client.status()
        delivered = after.pulses_delivered - before.pulses_delivered
        # 10 bolus pulses plus at most a few basal pulses in that minute: never 20.
        assert 10 <= delivered < 15


def test_unanswered_command_is_unconfirmed_then_settled(drop_relay, tmp_path):
    with activated(drop_relay.url, tmp_path / "hs", reply_timeout_s=0.5, attempts=2) as client:
        drop_relay.drop_next_reply(2, after_block=C.BLOCK_INSULIN_SCHEDULE)  # every try of the bolus loses its reply
        with pytest.raises(Unconfirmed) as caught:
            client.bolus(6)
        assert caught.value.exit_code == 7
        assert client.store.command_status(caught.value.record_id) == "unconfirmed"
        client.status()  # the next status read settles it: the pod did run it
        assert client.store.command_status(caught.value.record_id) == CONFIRMED


def test_unreachable_pod_fails_fast(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(PodUnreachable) as caught:
        PodClient.open(f"socket://127.0.0.1:{port}", tmp_path / "hs")
    assert time.monotonic() - started < 10  # gives up, no endless retrying (a loose bound: shared CI)
    assert "Cannot open the link" in str(caught.value) and caught.value.exit_code == 3
    # The state directory is released again.
    StateStore(tmp_path / "hs").lock()


def test_silent_pod_is_unreachable(scripted_pod, tmp_path):
    pod = scripted_pod([])
    client = PodClient.open(pod.url, tmp_path / "hs", reply_timeout_s=0.3, attempts=2)
    started = time.monotonic()
    with client, pytest.raises(PodUnreachable, match="No new pod answered"):
        client.activate(RATES, time_of_day_ms=0)
    assert time.monotonic() - started < 10  # gives up, no endless retrying (a loose bound: shared CI)
    assert len(pod.received) == 2 and pod.received[0] == pod.received[1]


def test_no_pod_paired(tmp_path):
    client = PodClient.offline(tmp_path / "hs")
    with pytest.raises(NoPodPaired, match="activate"):
        client.status()
    assert client.store.history() == []  # nothing was recorded
