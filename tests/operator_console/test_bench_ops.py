"""The bench protocol itself (SPEC.md section 6) against the real firmware: ids and stale replies,
duplicate keys, replies always valid JSON under the frame limit, true heap figures, the fresh pod,
the operator's port apart from the handset's, and each set-up and fault op with its errors."""
from __future__ import annotations

import json
import time

import pytest

from eros.link import CH_BENCH, CH_MESSAGE, MAX_FRAME
from eros.message import build_message
from system.podlink import PodLink

STATUS_TO_PAIRING = build_message(0xFFFFFFFF, 0, [{"type": 0x0E, "request": 0}])


def _raw_reply(link: PodLink, payload: bytes) -> bytes:
    """Send raw bench bytes and return the raw reply payload (to measure and parse it ourselves)."""
    link.poll()
    link.send_frame(CH_BENCH, payload)
    return link._wait(CH_BENCH, 10.0, "bench reply")


def test_replies_echo_the_id_and_a_late_reply_is_discarded(operator_pod) -> None:
    pod = operator_pod()
    link = pod.bench
    assert json.loads(_raw_reply(link, b'{"op": "info", "id": 41}'))["id"] == 41
    assert json.loads(_raw_reply(link, b'{"op": "nope", "id": 42}'))["id"] == 42  # errors too
    assert "id" not in json.loads(_raw_reply(link, b'{"op": "info", "id": -1}'))  # a bad id is not echoed
    # A request given up on: its late reply arrives while the next one is awaited, and is dropped.
    link.send_frame(CH_BENCH, b'{"op": "advance", "seconds": 2592000, "id": 7}')  # 30 days: it takes a while
    reply = link.bench({"op": "info"})
    assert reply["now_ms"] == 2592000 * 1000 and link.stale_replies == 1


@pytest.mark.parametrize("payload, key", [
    (b'{"op": "info", "op": "reset"}', "op"),
    (b'{"op": "advance", "seconds": 5, "seconds": 600}', "seconds"),
    (b'{"op": "advance", "\\u0073econds": 5, "seconds": 600}', "seconds"),  # the same key, escaped
    (b'{"op": "inject", "fault": "lose", "x": {"a": 1, "a": 2}}', "a"),
])
def test_a_duplicate_key_is_refused_and_changes_nothing(operator_pod, payload: bytes, key: str) -> None:
    pod = operator_pod()
    before = pod.info()
    reply = json.loads(_raw_reply(pod.bench, payload))
    assert reply["ok"] is False and f'"{key}" appears twice' in reply["error"]
    after = pod.info()
    assert (after["now_ms"], after["firmware"]["boots"], after["armed"]) == (
        before["now_ms"], before["firmware"]["boots"], before["armed"])


@pytest.mark.parametrize("payload", [
    b'{"op": "' + b"x" * 1040 + b'"}',
    b'{"op": "advance", "seconds": "' + b"9" * 1000 + b'"}',
    ('{"op": "inject", "fault": "' + "\u00e9" * 500 + '"}').encode(),  # two bytes a character
    b'{"op": "fresh", "clock": ["' + b'", "'.join([b"real"] * 120) + b'"]}',
    b'{"op": "info", "' + b"k" * 500 + b'": 1, "' + b"k" * 500 + b'": 2}',
])
def test_every_reply_is_a_json_object_under_the_frame_limit(operator_pod, payload: bytes) -> None:
    pod = operator_pod()
    raw = _raw_reply(pod.bench, payload)
    assert len(raw) + 1 <= MAX_FRAME
    reply = json.loads(raw)
    assert isinstance(reply, dict) and reply["ok"] is False and reply["error"].endswith(
        tuple("abcdefghijklmnopqrstuvwxyz)}\"")), reply


def test_heap_figures_are_true(operator_pod) -> None:
    heap = operator_pod().info()["heap"]
    assert heap["used"] + heap["free"] == heap["total"]
    assert heap["used"] <= heap["peak"] <= heap["total"] < 64 * 1024 * 1024  # not ~2.5 GB


def test_fresh_erases_everything_and_sets_what_a_test_needs(operator_pod) -> None:
    pod = operator_pod()
    link = pod.bench
    link.bench_ok({"op": "advance", "seconds": 3600})
    link.bench_ok({"op": "occlude", "on": True})
    link.bench_ok({"op": "inject", "fault": "drop"})
    reply = link.bench_ok({"op": "fresh", "lot": 7, "tid": 8, "fill_pulses": 100, "occlusion_pulses": 80})
    assert (reply["now_ms"], reply["clock"]) == (0, "virtual")
    p = reply["pod"]
    assert (p["progress"], p["address"], p["lot"], p["tid"], p["reservoir"], p["delivered"]) == (2, 0, 7, 8, 100, 0)
    assert p["occlusion_pulses"] == 80
    plant = link.bench_ok({"op": "plant"})
    assert (plant["pushed"], plant["reservoir_pulses"], plant["occluded"]) == (0, 100, False)
    assert plant["recorded"] in (None, 0)  # nothing recorded (the store may say 0 or null)
    assert link.bench_ok({"op": "info"})["armed"] == []
    again = link.bench_ok({"op": "reset"})  # nothing of the old pod comes back after a power cycle
    assert (again["pod"]["progress"], again["pod"]["lot"], again["now_ms"]) == (2, 7, 0)
    real = link.bench_ok({"op": "fresh", "clock": "real", "speed": 50})
    assert (real["clock"], real["speed"]) == ("real", 50)
    bad = link.bench({"op": "fresh", "clock": "virtual", "speed": 5})
    assert bad["ok"] is False and "real clock only" in bad["error"]
    assert link.bench_ok({"op": "info"})["clock"] == "real"  # the refused fresh changed nothing


def test_fresh_flag_on_the_command_line_erases_the_saved_pod(operator_pod, micropython, tmp_path) -> None:
    pod = operator_pod()
    pod.bench.bench_ok({"op": "advance", "seconds": 600})
    pod.bench.bench_ok({"op": "occlude", "on": True})
    state = pod.process.state_dir
    pod.process.stop()
    again = operator_pod(extra_args=["--fresh", "--state", str(state)])
    info = again.info()
    assert info["now_ms"] == 0 and again.bench.bench_ok({"op": "plant"})["occluded"] is False


def test_the_operator_port_never_carries_eros_messages(operator_pod) -> None:
    pod = operator_pod()
    pod.bench.send_frame(CH_MESSAGE, STATUS_TO_PAIRING)
    pod.bench.bench_ok({"op": "info"})  # answered in order: a P reply would have come first
    assert pod.bench.pending(CH_MESSAGE) == 0
    with PodLink(pod.handset_url) as handset:  # the same message on the handset port is answered
        assert handset.send_message(STATUS_TO_PAIRING)


def test_the_handset_port_answers_no_bench_without_the_bench_option(operator_pod) -> None:
    pod = operator_pod(handset_bench=False)
    with PodLink(pod.handset_url) as handset:
        handset.send_frame(CH_BENCH, b'{"op": "info", "id": 1}')
        assert handset.send_message(STATUS_TO_PAIRING)  # answered after the bench frame was handled
        assert handset.pending(CH_BENCH) == 0
    assert pod.bench.bench_ok({"op": "info"})["connections"]["bench_clients"] == 1


@pytest.mark.parametrize("request_, words", [
    ({"op": "inject", "fault": "melt"}, '"fault" must be one of'),
    ({"op": "inject", "fault": "delay"}, 'a delay needs "ms" or "seconds"'),
    ({"op": "inject", "fault": "lose", "block": 300}, '"block" must be from 0 to 255'),
    ({"op": "inject", "fault": "corrupt", "how": "fire"}, '"how" must be "crc" or "truncate"'),
    ({"op": "fault", "code": 0}, '"code" must be from 1 to 255'),
    ({"op": "fault"}, '"code" must be a whole number'),
    ({"op": "reservoir", "pulses": 4001}, '"pulses" must be from 0 to 4000'),
    ({"op": "age", "minutes": 60}, "not activated"),
    ({"op": "power_cut"}, 'power_cut needs "ms" or "seconds"'),
    ({"op": "speed", "speed": 10}, "speed applies to the real clock"),
    ({"op": "fresh", "fill_pulses": 5}, '"fill_pulses" must be from 20 to 4000'),
])
def test_bad_arguments_get_a_sentence_and_change_nothing(operator_pod, request_: dict, words: str) -> None:
    pod = operator_pod()
    before = pod.info()
    reply = pod.bench.bench(request_)
    assert reply["ok"] is False and words in reply["error"], reply
    after = pod.info()
    assert (after["armed"], after["pod"], after["power_cut_ms"]) == (before["armed"], before["pod"], before["power_cut_ms"])


def test_power_cut_at_a_random_moment_restarts_the_pod_within_the_advance(operator_pod) -> None:
    pod = operator_pod()
    cut = pod.bench.bench_ok({"op": "power_cut", "seconds": 60})["power_cut_ms"]
    assert 0 <= cut <= 60000 and pod.info()["power_cut_ms"] == cut
    pod.bench.bench_ok({"op": "advance", "seconds": 120})
    info = pod.info()
    assert info["firmware"]["boots"] == 2 and info["power_cut_ms"] is None


def test_reservoir_age_and_dry_on_an_active_pod(operator_pod) -> None:
    pod = operator_pod()
    assert pod.handset("activate").returncode == 0
    reply = pod.bench.bench_ok({"op": "reservoir", "pulses": 250})
    assert reply["pod"]["reservoir"] == 250 and reply["plant"]["reservoir_pulses"] == 250
    status = pod.handset("status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["reservoir"] is not None  # below 50 U: shown
    dry = pod.bench.bench_ok({"op": "dry"})
    assert dry["reservoir_pulses"] == 0
    delivered = pod.info()["pod"]["delivered"]
    pod.bench.bench_ok({"op": "advance", "seconds": 1800})  # 1.2 U/h: a few basal strokes, all dry
    plant = pod.bench.bench_ok({"op": "plant"})
    assert plant["dry"] >= 1 and pod.info()["pod"]["delivered"] == delivered  # counted only when pushed
    aged = pod.bench.bench_ok({"op": "age", "minutes": 80 * 60 - 1})
    assert aged["pod"]["minutes"] == 80 * 60 - 1 and aged["pod"]["fault"] == 0
    pod.bench.bench_ok({"op": "advance", "seconds": 120})
    assert pod.info()["pod"]["fault"] == 0x1C  # the 80-hour end of life, on the pod's own clock


def test_real_clock_speed_and_a_power_cut_on_the_real_clock(operator_pod) -> None:
    pod = operator_pod(clock="real")
    reply = pod.bench.bench_ok({"op": "speed", "speed": 1000})
    assert (reply["clock"], reply["speed"]) == ("real", 1000)
    before = reply["now_ms"]
    cut = pod.bench.bench_ok({"op": "power_cut", "ms": 0})["power_cut_ms"]
    assert cut >= before
    end = time.monotonic() + 20  # the ticker carries it out as soon as it is due: wait for it
    while pod.info()["firmware"]["boots"] != 2:
        assert time.monotonic() < end, "the armed power cut never happened"
    assert pod.info()["power_cut_ms"] is None
    assert pod.info()["now_ms"] > before  # the clock ran on, 1000x
