"""Pod safety in the firmware logic (firmware/pod/core.py with store, plant, alerts, occlusion,
pulse log) under CPython: at-most-once replies, restart from storage with the write-ahead bound,
alerts through the messages, occlusion threshold, faulted pod, pulse log, completion beeps."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


from eros import schedule
from eros.message import build_message, parse_message
from system.pdm_driver import InProcessPod, Pdm, activate, alert
from pod.core import Pod
from pod.hal.plant import Plant
from pod.hal.storage import FileStorage
from pod.pulselog import MODE_BASAL, MODE_BOLUS
from pod.store import Store

S = 1000
MIN = 60 * S
HOUR = 60 * MIN
LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
FLAT_1U = [20] * 48


class PowerCut(Exception):
    """The simulated power failing in the middle of a pulse."""


class FlashPod:
    """A pod on files (store + plant recorded in a folder), which can lose power and come back."""

    def __init__(self, folder: Path, fill: int = 4000, occlusion_pulses: int = 0, encoder: bool = True) -> None:
        self.folder = str(folder)
        self.encoder = encoder  # whether the mechanism can tell the plunger's position after a power loss
        self.fill = fill
        self.now = 0
        self.beeps: list[int] = []
        self.logs: list[str] = []
        self.cut_at: tuple[int, str] | None = None   # (stroke number, "before"/"after" the push)
        self.strokes = 0
        self.occlusion_pulses = occlusion_pulses
        self.boot()

    def boot(self) -> None:
        storage = FileStorage(self.folder)
        # the plant (the simulated mechanism) keeps its own files: not the pod's flash budget
        self.plant = Plant.load(FileStorage(self.folder), None, self.fill)
        outer = self

        class Pump:
            def pulse(self) -> bool:
                outer.strokes += 1
                if outer.cut_at == (outer.strokes, "before"):
                    raise PowerCut()
                moved = outer.plant.pulse()
                if outer.cut_at == (outer.strokes, "after"):
                    raise PowerCut()
                return moved

            def position(self) -> int | None:
                return outer.plant.position() if outer.encoder else None

        class Hal:
            pump = Pump()
            plant = self.plant

            def beep(self, beep_type: int) -> None:
                outer.beeps.append(beep_type)

            def log(self, text: str) -> None:
                outer.logs.append(text)

        Hal.storage = storage
        self.hal = Hal()
        self.store = Store(storage)
        self.pod = Pod(self.hal, LOT, TID, self.fill, self.now, store=self.store,
                       occlusion_pulses=self.occlusion_pulses)
        self.now = max(self.now, self.pod.last_ms)   # the emulator's clock resumes there (app.py)

    def exchange(self, message: bytes) -> bytes | None:
        return self.pod.handle(message, self.now)

    def advance(self, ms: int) -> None:
        target = self.now + ms
        d = self.pod.step(self.now)
        while d is not None and d <= target:   # like the scheduler: one step per deadline
            self.now = d
            d = self.pod.step(d)
        self.now = target
        self.pod.step(target)

    def recorded(self) -> int | None:
        return Store(FileStorage(self.folder)).load_delivered()


def flash_running(tmp_path: Path, **kw) -> tuple[FlashPod, Pdm]:
    bench = FlashPod(tmp_path, **kw)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    activate(pdm, bench.advance, FLAT_1U, -55 * S)
    return bench, pdm


def running(fill: int = 4000) -> tuple[InProcessPod, Pdm]:
    bench = InProcessPod(LOT, TID, fill)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    activate(pdm, bench.advance, FLAT_1U, -55 * S)
    return bench, pdm


def bolus_message(pdm: Pdm, pulses: int, beep_options: int = 0) -> bytes:
    blocks = list(schedule.bolus_blocks(pulses, pdm.nonce.current(), beep_options=beep_options))
    pdm.nonce.advance()
    msg = build_message(ADDR, pdm.seq, blocks)
    pdm.seq = (pdm.seq + 2) & 15
    return msg


# ---------------------------------------------------------------- 1. at most once

def test_a_repeated_bolus_gets_the_first_reply_and_is_not_given_twice():
    bench, pdm = running()
    start = bench.plant.pushed
    msg = bolus_message(pdm, 40)
    first = bench.exchange(msg)
    bench.advance(10 * S)
    again = bench.exchange(msg)                    # the handset lost the reply and retried
    assert again == first and parse_message(first)["blocks"][0]["bolus_remaining"] == 40
    bench.advance(HOUR)
    assert bench.plant.pushed - start == 40 + 20    # one bolus and an hour of 1 U/h basal
    assert any("repeated message" in line for line in bench.logs)


def test_a_retried_setup_is_answered_again_not_refused():
    bench = InProcessPod(LOT, TID, 4000)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    pdm.assign_address()
    pdm.setup_pod()
    setup = pdm.last_request
    reply = parse_message(bench.exchange(setup))["blocks"][0]
    assert reply["type"] == 0x01 and reply["progress"] == 3


def test_same_seq_other_bytes_is_a_new_message_and_a_repeated_bad_nonce_is_not_counted_twice():
    bench, pdm = running()
    stale = build_message(ADDR, pdm.seq, [{"type": 0x11, "nonce": 0x12345678, "mask": 0}])
    r1 = bench.exchange(stale)
    r2 = bench.exchange(stale)
    assert r1 == r2 and bench.pod.bad_nonces == 1
    s1 = parse_message(bench.exchange(build_message(ADDR, 3, [{"type": 0x0E, "request": 0}])))
    bench.advance(HOUR)
    s2 = parse_message(bench.exchange(build_message(ADDR, 3, [{"type": 0x0E, "request": 1}])))
    assert s1["blocks"][0]["type"] == 0x1D and s2["blocks"][0]["type"] == 0x02


def test_the_kept_reply_survives_a_power_loss(tmp_path):
    bench, pdm = flash_running(tmp_path)
    msg = bolus_message(pdm, 20)
    first = bench.exchange(msg)
    bench.boot()                                    # power cut right after the reply went out
    assert bench.exchange(msg) == first
    bench.advance(HOUR)
    assert bench.pod.delivery.bolus is None and bench.plant.pushed == bench.pod.delivered


# ---------------------------------------------------------------- 2. restart

def test_restart_keeps_identity_and_basal_and_drops_the_bolus(tmp_path):
    bench, pdm = flash_running(tmp_path)
    pdm.bolus(30)
    bench.advance(20 * S)
    before = bench.pod.to_state()
    delivered = bench.pod.delivered
    bench.boot()
    pod = bench.pod
    assert (pod.address, pod.progress, pod.nonce.to_words()) == (ADDR, 8, before["nonce"])
    assert pod.delivered == delivered == bench.recorded() == bench.plant.pushed
    status = pdm.status()                           # the same nonce state: no resync needed
    assert status["delivery"] == 1 and status["bolus_remaining"] == 20
    assert pdm.acknowledge(0)["type"] == 0x1D and pdm.resyncs == 0
    bench.advance(HOUR)
    assert bench.pod.delivered - delivered == 20    # basal only: the bolus did not resume
    assert bench.plant.pushed == bench.pod.delivered


def test_restart_resumes_a_temp_basal_within_its_time(tmp_path):
    bench, pdm = flash_running(tmp_path)
    pdm.temp_basal(60, 2)                           # 3 U/h for an hour
    bench.advance(30 * MIN)
    d0 = bench.pod.delivered
    bench.boot()
    assert pdm.status()["delivery"] == 2
    bench.advance(30 * MIN)
    assert bench.pod.delivered - d0 == 30
    bench.advance(HOUR)
    assert pdm.status()["delivery"] == 1 and bench.pod.delivered - d0 == 30 + 20


@pytest.mark.parametrize("encoder", [True, False])
@pytest.mark.parametrize("where", ["before", "after"])
def test_power_cut_inside_a_pulse_keeps_the_write_ahead_bound(tmp_path, where, encoder):
    """Kill at each of many strokes, before and after the push: recorded >= pushed >= recorded - 1,
    and the pod never pushes more than the programs asked for. When the mechanism can read the
    plunger's position, the restarted pod's count is exact."""
    bench, pdm = flash_running(tmp_path, encoder=encoder)
    pdm.bolus(12)
    cuts = 0
    programmed_end = bench.now + 30 * S
    for k in range(1, 12, 3):
        bench.cut_at = (bench.strokes + k, where)
        try:
            bench.advance(3 * S)
        except PowerCut:
            cuts += 1
        bench.cut_at = None
        bench.boot()
        recorded = bench.recorded()
        assert recorded is not None
        assert recorded - 1 <= bench.plant.pushed <= recorded
        assert bench.pod.delivered == recorded
        if encoder:
            assert bench.pod.delivered == bench.plant.pushed
        if bench.pod.delivery.bolus is None:
            break
    assert cuts >= 1
    bench.advance(programmed_end - bench.now)
    # 62 at activation, at most the 12 bolus pulses, no basal pulse is due in these 30 s
    assert bench.plant.pushed <= 62 + 12


def test_pod_time_resumes_and_the_life_limit_is_not_extended(tmp_path):
    bench, pdm = flash_running(tmp_path)
    bench.pdm_cancel = pdm.cancel(1)                # suspended: no pulse saves the state any more
    bench.advance(79 * HOUR)
    ram_ms = bench.pod.last_ms
    bench.now = 0                                  # the emulator's clock came back at 0
    bench.boot()
    assert ram_ms - 10 * MIN <= bench.now == bench.pod.last_ms <= ram_ms   # checkpoints: <= 10 min lost
    end = bench.pod.paired_ms + 80 * HOUR
    bench.advance(end - bench.now - 1)
    assert bench.pod.fault_code == 0
    bench.advance(1)
    assert bench.pod.fault_code == 0x1C and bench.pod.fault_ms == end   # 80 h of pod time, not more


def test_a_corrupt_newest_state_falls_back_or_faults(tmp_path):
    bench, pdm = flash_running(tmp_path)
    bench.advance(HOUR)
    storage = FileStorage(str(tmp_path))
    names = sorted(n for n in ("state.a", "state.b") if storage.read(n))
    newest = max(names, key=lambda n: Store(storage)._state._read(0 if n == "state.a" else 1)[0])
    raw = bytearray(storage.read(newest))
    raw[-3] ^= 0xFF                                 # a bit flip in the newest record
    storage.write(newest, bytes(raw))
    delivered = bench.pod.delivered
    bench.boot()
    assert bench.pod.progress == 8 and bench.pod.delivered == delivered   # the older record + counter
    for n in names:
        storage.write(n, b"garbage")
    bench.boot()
    assert bench.pod.progress == 13 and bench.pod.fault_code == 0x3D and bench.pod.delivered == delivered
    bench.advance(HOUR)
    assert bench.plant.pushed == delivered          # a pod that lost its state delivers nothing


def test_a_stale_record_is_not_trusted(tmp_path):
    """A state record that knows fewer pulses than were recorded would replay them: refused."""
    bench, pdm = flash_running(tmp_path)
    bench.advance(HOUR)
    old = bench.store.load()
    bench.advance(HOUR)
    bench.store.save(old)                           # an old state became the newest record
    bench.store.save(old)
    bench.boot()
    assert bench.pod.fault_code == 0x3D and bench.plant.pushed == bench.recorded()


def test_plant_records_itself(tmp_path):
    storage = FileStorage(str(tmp_path))
    p = Plant.load(storage, None, 100)
    p.pulse()
    p.set_occluded(True)
    p.pulse()
    q = Plant.load(storage, [5, 0, 0, 0, 0], 100)   # the file wins over an older sim.json copy
    assert q.info() == p.info() and json.loads(storage.read("plant.json"))[1] == 1


# ---------------------------------------------------------------- 3. alerts

def test_all_eight_alert_slots_through_messages():
    bench, pdm = running(fill=700)
    configs = [alert(s, 10 + s, repeat=0, beep=2) for s in range(8) if s != 4]
    configs.append(alert(4, 100, units=1, repeat=0, beep=3))    # 10 U = 200 pulses left
    assert pdm.configure_alerts(configs)["type"] == 0x1D
    bench.beeps.clear()
    bench.advance(13 * MIN + S)
    assert pdm.status()["alerts"] == 0x0F          # slots 0..3 fired at 10..13 min
    assert bench.beeps.count(2) == 4
    bench.advance(5 * MIN)
    assert pdm.status()["alerts"] == 0xEF          # 5, 6, 7 too; not the reservoir slot
    minutes = pdm.status(1)["alert_minutes"]
    base = minutes[0]
    assert [m - base for m in minutes] == [0, 1, 2, 3, -base, 5, 6, 7]
    assert pdm.acknowledge(0x0F)["alerts"] == 0xE0
    left = bench.pod.reservoir() - 200
    pdm.bolus(left)
    bench.advance(left * 2 * S + 5 * S)
    assert pdm.status()["alerts"] & 0x10 and 3 in bench.beeps
    assert pdm.status(2)["alerts"] & 0x10


def test_beep_config_sounds_and_completion_beeps_and_reminders():
    bench, pdm = running()
    bench.beeps.clear()
    msg = bolus_message(pdm, 150)                   # 300 s
    bench.exchange(msg)
    pdm.beep_config(beep_type=5, bolus=0x40 | 2)   # beep now; the bolus: completion + every 2 min
    assert bench.beeps == [5]
    bench.advance(301 * S)
    assert bench.beeps.count(0x04) == 2 and bench.beeps[-1] == 0x0B
    bench.beeps.clear()
    bench.exchange(bolus_message(pdm, 5, beep_options=0x80))
    bench.advance(20 * S)
    assert bench.beeps == [0x0B]                    # accepted (bit 7); no completion beep set


# ---------------------------------------------------------------- 4. occlusion

def test_occlusion_threshold_and_no_hidden_bolus(tmp_path):
    bench, pdm = flash_running(tmp_path, occlusion_pulses=80)
    assert bench.pod.occlusion.threshold == 80
    start = bench.plant.pushed
    bench.plant.set_occluded(True)
    pdm.bolus(100)
    bench.advance(79 * 2 * S + S)
    assert bench.pod.fault_code == 0
    bench.advance(2 * S)
    assert bench.pod.fault_code == 0x14 and bench.pod.progress == 13
    d = pdm.status()
    assert d["type"] == 0x02 and d["occlusion_type"] == 1 and d["progress_at_fault"] == 8
    # none of the 80 blocked strokes went in: all 100 pulses are reported as not delivered
    assert d["bolus_in_progress"] == 1 and d["bolus_remaining"] == 100
    assert d["pulses_delivered"] == start
    bench.plant.set_occluded(False)
    bench.advance(10 * HOUR)
    assert bench.plant.pushed == start              # nothing released, nothing delivered later


def test_occlusion_units_option():
    from pod.app import UsageError, parse_args

    assert parse_args(["--occlusion-units", "4.5"]).occlusion_pulses == 90
    assert parse_args([]).occlusion_pulses == 0
    for bad in ("2", "5.05", "x", "3.01"):
        with pytest.raises(UsageError):
            parse_args(["--occlusion-units", bad])


# ---------------------------------------------------------------- 5. faulted pod

def test_a_faulted_pod_delivers_nothing_and_answers_detailed_status():
    bench, pdm = running()
    bench.plant.set_occluded(True)
    pdm.bolus(100)
    bench.advance(200 * S)
    pushed = bench.plant.pushed
    delivered = bench.pod.delivered
    for request in (0, 2):
        d = pdm.status(request)
        assert d["type"] == 0x02 and d["subtype"] == 2 and d["fault_code"] == 0x14
        assert d["pulses_delivered"] == delivered and d["delivery"] == 0 and d["fault_minutes"] >= 0
    assert pdm.acknowledge(0)["type"] == 0x02
    bench.plant.set_occluded(False)
    bench.advance(5 * HOUR)
    assert bench.plant.pushed == pushed and bench.pod.delivered == delivered
    assert pdm.deactivate()["progress"] == 15


# ---------------------------------------------------------------- 6. pulse log

def _fields(word: int) -> dict:
    return {"encoder": word >> 26, "coil": (word >> 24) & 1, "mode": (word >> 21) & 7,
            "low": (word >> 20) & 1, "moved": (word >> 7) & 1, "deviation": word & 0x3F}


def test_pulse_log_types_50_51_03(tmp_path):
    bench, pdm = flash_running(tmp_path)
    pdm.bolus(60)
    bench.advance(2 * MIN + S)
    n = bench.pod.delivered
    last = pdm.status(0x50)
    assert last["last_index"] == n - 1 and len(last["entries"]) == 50
    f = [_fields(w) for w in last["entries"]]
    assert all(x["mode"] == MODE_BOLUS and x["moved"] == 1 and x["deviation"] == 0 for x in f)
    assert [x["encoder"] for x in f] == [(n - 49 + i) & 0x3F for i in range(50)]
    assert [x["coil"] for x in f] == [(n - 49 + i) & 1 for i in range(50)]
    earlier = pdm.status(0x51)
    assert earlier["count"] == 50 == len(earlier["entries"])
    plus = pdm.status(0x03)
    assert plus["entries"] == (earlier["entries"] + last["entries"])[-60:]
    bench.plant.set_occluded(True)
    bench.advance(3 * MIN)                          # one basal stroke, blocked
    w = _fields(pdm.status(0x50)["entries"][-1])
    assert w["mode"] == MODE_BASAL and w["moved"] == 0 and w["deviation"] == 0x3F
    before = pdm.status(0x50)
    bench.boot()
    assert pdm.status(0x50)["entries"] == before["entries"]   # kept across a power loss


def test_pulse_log_ring_keeps_100():
    bench, pdm = running()
    assert bench.pod.pulse_log.count == 62 and len(bench.pod.pulse_log.entries) == 62
    bench.advance(3 * HOUR)
    log = bench.pod.pulse_log
    assert log.count == 122 and len(log.entries) == 100
    assert len(pdm.status(0x51)["entries"]) == 50
