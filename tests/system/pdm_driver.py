"""A small test-side PDM built on the eros codec: message building, sequence numbers, nonce
tracking and resync. It talks through any `exchange(message_bytes) -> reply_bytes | None`
callable: Pod.handle in the unit tests, a PodLink to the real firmware in the system tests.
"""
from __future__ import annotations

from typing import Callable

from eros.message import build_message, parse_message
from eros.nonce import NonceState, seed_from_resync
from eros import schedule

PAIRING_ADDRESS = 0xFFFFFFFF
NONCE_TYPES = (0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1F)


class PodError(AssertionError):
    """The pod answered something the PDM did not expect."""


class Pdm:
    """The PDM side of one pod session."""

    def __init__(self, exchange: Callable[[bytes], bytes | None], lot: int, tid: int,
                 address: int = 0x1F07B1EE) -> None:
        self.exchange = exchange
        self.lot = lot
        self.tid = tid
        self.address = address
        self.paired = False
        self.seq = 0
        self.nonce = NonceState(lot, tid)
        self.resyncs = 0
        self.last_request: bytes = b""

    # ---------------------------------------------------------------- raw exchange
    def send_raw(self, message: bytes) -> dict | None:
        """Send prepared bytes; the parsed reply (or None when the pod dropped it)."""
        self.last_request = message
        raw = self.exchange(message)
        if raw is None:
            return None
        return parse_message(raw)

    def send(self, blocks: list, seq: int | None = None, address: int | None = None) -> dict:
        """Send blocks as they are (nonces untouched) with the session's seq; returns the reply
        message and checks its seq; the session's seq advances by 2."""
        s = self.seq if seq is None else seq
        if address is None:
            address = self.address if self.paired else PAIRING_ADDRESS
        reply = self.send_raw(build_message(address, s, blocks))
        if reply is None:
            raise PodError("the pod dropped a well-formed message")
        if reply["seq"] != (s + 1) & 0x0F:
            raise PodError(f"reply seq {reply['seq']} to request seq {s}")
        self.seq = (s + 2) & 0x0F
        return reply

    def command(self, blocks: list, resync: bool = True) -> dict:
        """Send nonce-bearing blocks with the current nonce; on 06 0x14 resync and resend with
        the same seq (as a real PDM does). Returns the first reply block."""
        s = self.seq
        sent = self._fill_nonce(blocks)
        reply = self.send(blocks, seq=s)
        first = reply["blocks"][0]
        if first["type"] == 0x06 and first["code"] == 0x14 and resync and sent is not None:
            seed = seed_from_resync(sent, s, self.lot, self.tid, first["word"])
            self.nonce = NonceState(self.lot, self.tid, seed)
            self.resyncs += 1
            self._fill_nonce(blocks)
            reply = self.send(blocks, seq=s)
            first = reply["blocks"][0]
        return first

    def _fill_nonce(self, blocks: list) -> int | None:
        if not any(isinstance(b, dict) and b["type"] in NONCE_TYPES for b in blocks):
            return None
        n = self.nonce.current()
        for b in blocks:
            if isinstance(b, dict) and b["type"] in NONCE_TYPES:
                b["nonce"] = n
        self.nonce.advance()
        return n

    # ---------------------------------------------------------------- pairing
    def assign_address(self) -> dict:
        self.seq = 0
        return self.send([{"type": 0x07, "address": self.address}], address=PAIRING_ADDRESS)["blocks"][0]

    def setup_pod(self, month: int = 10, day: int = 10, year: int = 16, hour: int = 11,
                  minute: int = 18) -> dict:
        reply = self.send([{"type": 0x03, "address": self.address, "unknown": 0x14, "packet_timeout": 4,
                            "month": month, "day": day, "year": year, "hour": hour, "minute": minute,
                            "lot": self.lot, "tid": self.tid}], seq=0, address=PAIRING_ADDRESS)
        self.paired = True
        return reply["blocks"][0]

    # ---------------------------------------------------------------- commands
    def status(self, request: int = 0) -> dict:
        return self.send([{"type": 0x0E, "request": request}])["blocks"][0]

    def configure_alerts(self, alerts: list[dict]) -> dict:
        return self.command([{"type": 0x19, "nonce": 0, "alerts": alerts}])

    def acknowledge(self, mask: int) -> dict:
        return self.command([{"type": 0x11, "nonce": 0, "mask": mask}])

    def fault_config(self, a: int = 0, b: int = 0) -> dict:
        return self.command([{"type": 0x08, "nonce": 0, "tab5_16": a, "tab5_17": b}])

    def beep_config(self, beep_type: int = 0x0F, basal: int = 0, temp: int = 0, bolus: int = 0) -> dict:
        return self.send([{"type": 0x1E, "beep_type": beep_type, "basal_beep": basal,
                           "temp_basal_beep": temp, "bolus_beep": bolus}])["blocks"][0]

    def bolus(self, pulses: int, interval_ms: int = 2000, extended_pulses: int = 0,
              extended_half_hours: int = 0) -> dict:
        blocks = list(schedule.bolus_blocks(pulses, 0, interval_ms=interval_ms,
                                           extended_pulses=extended_pulses,
                                           extended_half_hours=extended_half_hours))
        return self.command(blocks)

    def prime(self) -> dict:
        return self.bolus(52, interval_ms=1000)

    def cannula(self) -> dict:
        return self.bolus(10, interval_ms=1000)

    def basal(self, rates_pph: list[int], time_of_day_ms: int) -> dict:
        return self.command(list(schedule.basal_schedule_blocks(rates_pph, time_of_day_ms, 0)))

    def temp_basal(self, rate_pph: int, half_hours: int) -> dict:
        return self.command(list(schedule.temp_basal_blocks(rate_pph, half_hours, 0)))

    def cancel(self, bits: int, beep_type: int = 0) -> dict:
        return self.command([{"type": 0x1F, "nonce": 0, "beep_type": beep_type, "cancel": bits}])

    def deactivate(self) -> dict:
        return self.command([{"type": 0x1C, "nonce": 0}])


def alert(slot: int, trigger: int, *, active: int = 1, units: int = 0, auto_off: int = 0,
          duration: int = 0, repeat: int = 0, beep: int = 2) -> dict:
    """One 0x19 alert config dict."""
    return {"slot": slot, "active": active, "units_trigger": units, "auto_off": auto_off,
            "duration_minutes": duration, "trigger": trigger, "beep_repeat": repeat, "beep_type": beep}


FINISH_SETUP = alert(7, 5, duration=55, repeat=8, beep=2)
LOW_RESERVOIR = alert(4, 200, units=1, repeat=1, beep=2)   # 20 U


def activate(pdm: Pdm, advance: Callable[[int], None], rates_pph: list[int], time_of_day_ms: int) -> list[dict]:
    """The whole activation as a real PDM does it; `advance(ms)` lets pod time pass.
    Returns every reply block in order (version, version, status...)."""
    out = [pdm.assign_address(), pdm.setup_pod()]
    out.append(pdm.configure_alerts([dict(LOW_RESERVOIR)]))
    out.append(pdm.configure_alerts([dict(FINISH_SETUP)]))
    out.append(pdm.prime())
    advance(55_000)
    out.append(pdm.configure_alerts([alert(7, 0, active=0, beep=0)]))
    out.append(pdm.basal(rates_pph, (time_of_day_ms + 55_000) % 86_400_000))
    out.append(pdm.cannula())
    advance(12_000)
    out.append(pdm.status())
    return out


class InProcessPod:
    """The pure firmware logic (firmware/pod/core.py) run in this process with the real plant as
    its pump, on a virtual clock: for the unit tests (tests/firmware). `exchange` feeds Pod.handle."""

    def __init__(self, lot: int = 42125, tid: int = 170175, fill_pulses: int = 4000, now_ms: int = 0) -> None:
        from pod.core import Pod
        from pod.hal.plant import Plant

        plant = Plant(fill_pulses)
        self.plant = plant
        self.beeps: list[int] = []
        self.logs: list[str] = []
        outer = self

        class Hal:
            pump = plant
            storage = None

            def beep(self, beep_type: int) -> None:
                outer.beeps.append(beep_type)

            def log(self, text: str) -> None:
                outer.logs.append(text)

        Hal.plant = plant
        self.hal = Hal()
        self.now = now_ms
        self.pod = Pod(self.hal, lot, tid, fill_pulses, now_ms)

    def exchange(self, message: bytes) -> bytes | None:
        return self.pod.handle(message, self.now)

    def advance(self, ms: int) -> None:
        """Let `ms` of pod time pass in one jump."""
        self.now += ms
        self.pod.step(self.now)
