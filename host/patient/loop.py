"""One closed-loop run in virtual time: pod, handset, patient and CGM, 5 minutes at a time.

Each step: the handset acts (meal boluses from the calculator with the fresh CGM value, LGS
suspend/resume, scripted occlusions), the pod's clock moves 5 minutes (bench ``advance``), the
pod's stroke log is read (bench ``strokes``) and every pushed stroke reaches the patient in the
minute it happened; a blocked stroke reaches nobody. Then the patient lives those 5 minutes and
the CGM reads it. The pod's own status is the record of what was delivered.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from handset import calc, insulin, units
from handset.errors import HandsetError, InvalidInput, PodFaulted
from handset.pod import PodClient
from handset.settings import Settings
from patient import cgm as cgm_mod
from patient.lgs import LowGlucoseSuspend
from patient.model import Therapy, VirtualPatient, therapy_for
from patient.podproc import VirtualPod
from patient.scenario import Scenario

STEP_MIN = cgm_mod.PERIOD_MIN
SIM_REPLY_TIMEOUT_S = 10.0
MINUTES_PER_DAY = 1440
POD_LIFE_MIN = 72 * 60  # the pod is changed when it reaches 72 h (it would stop delivering at 80 h)
WORK_MARKER = ".handset-sim"
MS_PER_MIN = 60_000
_EPOCH = _dt.datetime(2026, 1, 1)  # day 1 of every run (the pod only knows the time of day)
# Run events the handset writes into its history (see handset.history for the other kinds):
# "lgs" {action: suspend | resume, reason, alarm} and "cgm_alert" {level: low | high, mgdl}.
_HISTORY_KINDS = {"lgs_suspend": "lgs", "lgs_resume": "lgs", "cgm_alert": "cgm_alert"}


@dataclass
class MinuteRow:
    """What happened in one minute of the run."""

    minute: int
    pod_ms: int
    glucose_tenths: int          # the patient's glucose at the end of the minute, mg/dL × 10
    pushed: int                  # pulses the mechanism pushed in this minute (the patient got them)
    blocked: int                 # strokes that pushed nothing (occlusion, empty reservoir)
    carbs_g: int
    suspended: bool              # delivery suspended by the handset's low-glucose suspend


@dataclass
class RunResult:
    """A finished run: rows per minute, CGM readings, events, and the pod's own totals."""

    scenario: Scenario
    therapy: Therapy
    basal_pph: int
    rows: list[MinuteRow] = field(default_factory=list)
    readings: list[cgm_mod.Reading] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    pod_delivered: int = 0       # pulses, from the pod's status (delta over the run)
    pod_bolus: int = 0           # pulses the pod delivered as bolus (from its bolus-remaining count)
    stroke_pushed: int = 0       # pulses the stroke log says went in
    fault: str | None = None
    wall_s: float = 0.0

    @property
    def pod_basal(self) -> int:
        """Pulses the pod delivered that were not bolus."""
        return self.pod_delivered - self.pod_bolus


class ClosedLoop:
    """The run's moving parts; `run()` drives them to the end of the scenario."""

    def __init__(self, scenario: Scenario, client: PodClient, say: Callable[[str], None]) -> None:
        self.sc = scenario
        self.pod = client
        self.say = say
        self.therapy = therapy_for(scenario.patient)
        self.basal_pph = scenario.basal_pph or self.therapy.basal_pph
        # The person's pump settings: their own ratios; a max bolus of half their daily insulin
        # (10–30 U), so that a big meal is not cut to the 10 U default.
        self.settings = Settings(carb_ratio=min(150, self.therapy.carb_ratio),
                                 correction_factor=min(400, self.therapy.correction_factor),
                                 max_basal=max(60, self.basal_pph),
                                 max_bolus=min(units.MAX_BOLUS_PULSES_HARD,
                                               max(200, self.therapy.total_daily_units * 20 // 2)))
        self.patient = VirtualPatient(scenario.patient, scenario.seed)
        self.cgm = cgm_mod.Cgm(scenario.seed)
        self.lgs = LowGlucoseSuspend(scenario.lgs_mode, scenario.lgs_threshold)
        self.result = RunResult(scenario, self.therapy, self.basal_pph)
        self.cursor = 0
        self.t0_ms = 0           # the current pod's clock at run minute pod_minute
        self.pod_minute = 0
        self.pod_life_min = POD_LIFE_MIN
        self.suspended = False
        self.faulted = False
        self._delivered = 0
        self._bolus_left = 0

    # -- the pod --------------------------------------------------------------------------------

    def start(self, minute: int = 0) -> None:
        """Activate a pod with the run's basal at run minute `minute` and note where its clock and
        stroke log begin. (Activation takes a few minutes of pod time; the patient does not wait.)"""
        self.pod.wait_ms = self._wait
        tod_ms = (self.sc.start + minute) % MINUTES_PER_DAY * MS_PER_MIN
        self.pod.activate([self.basal_pph] * 48, time_of_day_ms=tod_ms)
        self.t0_ms = self._advance(0)  # settles anything due now, before the baselines are taken
        self.pod_minute = minute
        info = self.pod.bench("strokes", since=1 << 30)
        self.cursor = int(info["count"])  # priming and the cannula fill do not reach the patient
        status = self.pod.status()
        self._delivered = status.pulses_delivered

    def pod_ms(self, minute: int) -> int:
        """The current pod's clock at run minute `minute`."""
        return self.t0_ms + (minute - self.pod_minute) * MS_PER_MIN

    def change_pod(self, minute: int) -> None:
        """The person's pod change: deactivate the old pod (1F, 1C), a new pod in the emulator
        (bench fresh: the clock starts again at 0), activate it; a running LGS suspension holds."""
        self._settle_pod_totals(minute)
        try:
            self.pod.deactivate()
        except HandsetError as exc:
            self._event(minute, "command_failed", command="deactivate", error=str(exc))
        self.pod.bench("fresh")
        self.faulted, self._bolus_left = False, 0
        self.start(minute)
        self._event(minute, "pod_change", note="a new pod is running")
        if self.suspended and not self._pod_call(minute, "suspend", self.pod.suspend):
            self.suspended = False

    def _wait(self, ms: int) -> None:
        """How the handset library waits for the pod during activation: the pod's clock moves."""
        self._advance(ms)

    def _advance(self, ms: int) -> int:
        return int(self.pod.bench("advance", ms=ms)["now_ms"])

    def _strokes(self) -> list[list[int]]:
        out: list[list[int]] = []
        while True:
            r = self.pod.bench("strokes", since=self.cursor)
            if int(r["first"]) > self.cursor:
                raise HandsetError(f"The pod's stroke log lost {int(r['first']) - self.cursor} strokes: "
                                   "advance the pod in shorter steps.")
            out.extend(r["strokes"])
            self.cursor = int(r["next"])
            if self.cursor >= int(r["count"]):
                return out

    def _now(self, minute: int) -> _dt.datetime:
        return _EPOCH + _dt.timedelta(minutes=self.sc.start + minute)

    def _event(self, minute: int, kind: str, **detail: object) -> None:
        pod_ms = self.pod_ms(minute)
        event = {"minute": minute, "at": self.sc.label(minute), "pod_ms": pod_ms, "kind": kind, **detail}
        self.result.events.append(event)
        if kind in _HISTORY_KINDS:  # the handset's own record of what it did and raised
            self.pod.store.append({"kind": _HISTORY_KINDS[kind], "pod_ms": pod_ms, **detail})
        self.say(f"{self.sc.label(minute)}  {kind}: " + ", ".join(f"{k} {v}" for k, v in detail.items()))

    def _pod_call(self, minute: int, what: str, fn: Callable[[], object]) -> bool:
        if self.faulted:
            return False
        try:
            fn()
            return True
        except PodFaulted as exc:
            self._fault(minute, exc)
        except HandsetError as exc:
            self._event(minute, "command_failed", command=what, error=str(exc))
        return False

    def _fault(self, minute: int, exc: PodFaulted) -> None:
        self.faulted = True
        self.result.fault = f"0x{exc.fault_code:02x}"
        self._event(minute, "pod_fault", code=self.result.fault, error=str(exc))

    # -- one step -------------------------------------------------------------------------------

    def _act(self, minute: int) -> None:
        """What the person and the handset do at the start of the step."""
        for at in self.sc.occlusions:  # at the start of the 5-minute step that holds it
            if minute <= at < minute + STEP_MIN:
                self.pod.bench("occlude", on=True)
                self._event(minute, "occlusion", note="the line is blocked from now on")
        for at in self.sc.user_resumes:
            if minute <= at < minute + STEP_MIN and self.lgs.user_resume():
                self._resume(minute, "the user resumed")
        for meal in self.sc.meals:
            if minute <= meal.minute < minute + STEP_MIN:
                self._meal_bolus(minute, meal.grams)

    def _meal_bolus(self, minute: int, grams: int) -> None:
        if self.sc.bolus != "calculator" or self.faulted:
            return
        if self.suspended and self.lgs.user_resume():
            self._resume(minute, "the user resumed to eat")
        latest = cgm_mod.latest(self.cgm.history)
        now_s = self.pod_ms(minute) // 1000
        announced_tenths = grams * 10 * self.sc.announced_percent // 100
        # Insulin on board from the pod's own account of each bolus (the handset's history).
        address = f"{self.pod.record.address:08x}" if self.pod.record is not None else None
        records = insulin.bolus_records(self.pod.store.history(), address, now_s * 1000)
        suggestion = calc.suggest(self.settings, carbs_tenths_g=announced_tenths,
                                  bg_mgdl=latest.mgdl if latest else None,
                                  bg_time_s=latest.pod_ms // 1000 if latest else None,
                                  now_s=now_s, records=records)
        if not suggestion.pulses:
            self._event(minute, "bolus_skipped", carbs_g=grams,
                        reason=suggestion.refusal or "the calculator suggests nothing")
            return
        pulses = suggestion.pulses

        def bolus() -> None:
            status = self.pod.bolus(pulses, meal_pulses=suggestion.meal_pulses,
                                    correction_pulses=suggestion.correction_pulses)
            self._bolus_left += status.bolus_remaining
        if self._pod_call(minute, "bolus", bolus):
            self._event(minute, "bolus", pulses=pulses, carbs_g=grams,
                        cgm_mgdl=latest.mgdl if latest else None)

    def _resume(self, minute: int, reason: str) -> None:
        if self._pod_call(minute, "resume", lambda: self.pod.resume(now=self._now(minute))):
            self.suspended = False
            self._event(minute, "lgs_resume", action="resume", reason=reason)

    def _after_reading(self, minute: int, reading: cgm_mod.Reading) -> None:
        if reading.alert:
            self._event(minute, "cgm_alert", level=reading.alert, mgdl=reading.mgdl)
        decision = self.lgs.on_reading(self.cgm.history, minute)
        if decision.action == "suspend" and not self.faulted:
            if self._pod_call(minute, "suspend", self.pod.suspend):
                self.suspended = True
                self._event(minute, "lgs_suspend", action="suspend", reason=decision.reason,
                            alarm="low glucose: insulin suspended")
        elif decision.action == "resume" and self.suspended:
            self._resume(minute, decision.reason)

    def _settle_pod_totals(self, minute: int) -> None:
        """The pod's status after the step: delivered pulses, and how much of it was bolus."""
        if self.faulted:
            return
        try:
            status = self.pod.status()
            delivered, bolus_left = status.pulses_delivered, status.bolus_remaining
        except PodFaulted as exc:
            self._fault(minute, exc)
            # The pod's last word: its detailed status at the fault (what it delivered until then).
            details = exc.details or {}
            if not isinstance(details.get("pulses_delivered"), int):
                return
            delivered, bolus_left = int(details["pulses_delivered"]), int(details.get("bolus_remaining") or 0)
        delta = delivered - self._delivered
        progressed = max(0, self._bolus_left - bolus_left)
        self.result.pod_delivered += delta
        self.result.pod_bolus += min(delta, progressed)
        self._delivered = delivered
        self._bolus_left = bolus_left

    def step(self, minute: int) -> None:
        """Minutes [minute, minute + 5): act, advance the pod, feed the patient, read the CGM."""
        self._act(minute)
        was_suspended = self.suspended
        self._advance(STEP_MIN * MS_PER_MIN)
        strokes = self._strokes()
        self._settle_pod_totals(minute + STEP_MIN)
        per_minute = [[0, 0] for _ in range(STEP_MIN)]
        for ms, ok in strokes:
            slot = min(STEP_MIN - 1, max(0, (int(ms) - self.t0_ms) // MS_PER_MIN + self.pod_minute - minute))
            per_minute[slot][0 if ok else 1] += 1
        carbs = {m.minute: m.grams for m in self.sc.meals if minute <= m.minute < minute + STEP_MIN}
        for i in range(STEP_MIN):
            m = minute + i
            glucose = self.patient.step_minute(per_minute[i][0], carbs.get(m, 0))
            self.result.stroke_pushed += per_minute[i][0]
            self.result.rows.append(MinuteRow(m, self.pod_ms(m), round(glucose * 10),
                                              per_minute[i][0], per_minute[i][1], carbs.get(m, 0), was_suspended))
        end = minute + STEP_MIN
        out = any(a <= end < b for a, b in self.sc.sensor_out)
        reading = self.cgm.read(self.patient.model, end, self.pod_ms(end), out, self.sc.label(end))
        self.result.readings.append(reading)
        self._after_reading(end, reading)

    def run(self) -> RunResult:
        """Start the pod and run every step of the scenario."""
        began = time.monotonic()
        self.start()
        for minute in range(0, self.sc.minutes, STEP_MIN):
            if minute - self.pod_minute >= self.pod_life_min:
                self.change_pod(minute)
            self.step(minute)
        self.result.wall_s = time.monotonic() - began
        return self.result


def _fresh_work(work: Path) -> None:
    """An empty `work` folder: one a previous run made (it carries the marker) is cleared; any other
    non-empty folder is refused, never deleted."""
    marker = work / WORK_MARKER
    if work.exists() and any(work.iterdir()):
        if not marker.exists():
            raise InvalidInput(f"{work} exists and was not made by `handset sim`: choose another --out folder.")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by handset sim: cleared by the next run\n", encoding="utf-8")


def run(scenario: Scenario, work: Path, say: Callable[[str], None] | None = None) -> RunResult:
    """Run `scenario` against a new emulated pod whose files live in `work` (pod/, handset/, logs)."""
    _fresh_work(work)
    began = time.monotonic()
    with VirtualPod(work) as vpod:
        # A local pod on a virtual clock answers at once when the machine is idle; on a loaded one
        # (a population run) a generous reply timeout costs nothing and spares a false "no reply".
        timeout = None if os.environ.get("HANDSET_TIMEOUT") else SIM_REPLY_TIMEOUT_S
        client = PodClient.open(vpod.url, state_dir=work / "handset", reply_timeout_s=timeout)
        try:
            result = ClosedLoop(scenario, client, say or (lambda text: None)).run()
        finally:
            client.close()
    cgm_mod.write_log(work / "handset", result.readings)
    result.wall_s = time.monotonic() - began
    return result
