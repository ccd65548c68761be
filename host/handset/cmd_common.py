"""What every `handset` command shares: the connection options and the error boundary, the pod's
clock (real, sped up or virtual) for waiting, and the wording of delivery bits, alerts and reservoir.
"""
from __future__ import annotations

import datetime as _dt
import functools
import os
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click

from handset import units
from handset.errors import HandsetError, InvalidInput, PodFaulted
from handset.output import Out
from handset.settings import Journal

DEFAULT_PORT = "socket://127.0.0.1:7410"
POLL_MS = 1000  # pod time between status reads while a bolus runs, at least 0.25 s of real time

DELIVERY_BITS = ((1, "basal"), (2, "temp basal"), (4, "bolus"), (8, "extended bolus"))
ALERT_NAMES = {
    0: "auto-off", 1: "slot 1", 2: "pod expires in 1 hour", 3: "expiry reminder", 4: "low reservoir",
    5: "pod suspended", 6: "suspend time is over", 7: "pod expired / finish setup",
}

PROGRESS_NAMES = {
    0: "initialized", 1: "memory initialized", 2: "filled", 3: "paired", 4: "priming", 5: "primed",
    6: "basal set", 7: "inserting cannula", 8: "running", 9: "running, reservoir below 50 U",
    13: "faulted", 14: "activation time exceeded", 15: "deactivated",
}

POD_NOMINAL_MINUTES = 72 * 60
POD_MAX_MINUTES = 80 * 60


@dataclass
class Options:
    """The connection options of one command."""

    port: str
    state: Path
    trace: str | None
    json: bool

    @property
    def out(self) -> Out:
        return Out(json_mode=self.json)

F = TypeVar("F", bound=Callable[..., Any])


def _default_state() -> Path:
    from handset.state import default_state_dir
    return default_state_dir()


def common_options(json_flag: bool = True) -> Callable[[F], F]:
    """--port, --state, --trace (and --json) on a command; they arrive as `opts: Options`."""
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, port: str | None, state: str | None, trace: str | None, as_json: bool = False,
                    **kwargs: Any) -> Any:
            # Each option may also be given before the command name (`handset --port URL status`).
            top = click.get_current_context().find_root().params
            url: str = port or top.get("port") or DEFAULT_PORT
            state = state or top.get("state")
            trace = trace or top.get("trace")
            opts = Options(url, Path(state) if state else _default_state(), trace, as_json)
            return guarded(opts.out, lambda: journal_faults(opts, lambda: func(*args, opts=opts, **kwargs)))

        wrapped: Any = wrapper
        if json_flag:
            wrapped = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of prose.")(wrapped)
        wrapped = click.option("--trace", type=click.Path(dir_okay=False), default=None,
                               help="Append every frame sent and received to FILE.")(wrapped)
        wrapped = click.option("--state", type=click.Path(file_okay=False), default=None,
                               help="State directory (env HANDSET_STATE; default ~/.local/state/handset).")(wrapped)
        wrapped = click.option("--port", default=None,
                               help="Pod link: /dev/ttyX, socket://host:port, rfc2217://host:port, loop:// "
                                    f"(env HANDSET_PORT; default {DEFAULT_PORT}).")(wrapped)
        return wrapped  # type: ignore[no-any-return]
    return decorate


def guarded(out: Out, action: Callable[[], Any]) -> Any:
    """Run a command: a HandsetError becomes its sentence and exit code; nothing prints a traceback."""
    try:
        return action()
    except HandsetError as exc:
        out.error(str(exc))
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        out.error("Interrupted.")
        raise SystemExit(130) from None
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a sentence, not a traceback
        if os.environ.get("HANDSET_DEBUG"):
            traceback.print_exc()
        out.error(f"Unexpected error ({type(exc).__name__}: {exc}): this is a bug in the handset; "
                  "run again with HANDSET_DEBUG=1 and report the traceback.")
        raise SystemExit(1) from None


def journal_faults(opts: Options, action: Callable[[], Any]) -> Any:
    """Run `action`; a pod fault is written to the journal (history shows it) before it is reported."""
    try:
        return action()
    except PodFaulted as exc:
        try:
            Journal(opts.state).append("fault", code=exc.fault_code, text=exc.fault_name)
        except OSError:
            pass
        raise

SPEED_REAL = 1
BENCH_PROBE_S = 0.5


def pod_speed(pod: Any = None) -> int | None:
    """How fast the emulated pod's clock runs: N times real time, or None for a virtual clock that
    the handset moves with the bench "advance" operation.

    From env HANDSET_POD_SPEED (a whole number, or "virtual"); otherwise asked once of the emulator's
    bench channel ("info"); a pod without a bench (a real device) runs in real time.
    """
    text = os.environ.get("HANDSET_POD_SPEED", "").strip().lower()
    if text == "virtual":
        return None
    if text:
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput(f"HANDSET_POD_SPEED={text!r} is not understood: set a whole number like 60, or virtual.")
        return int(text)
    session = getattr(pod, "session", None)
    if session is None:
        return SPEED_REAL
    try:
        info = session.bench({"op": "info"}, timeout_s=BENCH_PROBE_S)
    except HandsetError:
        return SPEED_REAL
    if info.get("clock") == "virtual":
        return None
    speed = info.get("speed")
    return speed if isinstance(speed, int) and speed >= 1 else SPEED_REAL


class PodTime:
    """Waiting on the pod's clock: real sleep scaled by its speed, or bench advances (virtual clock)."""

    def __init__(self, pod: Any, tick: Callable[[int], None] | None = None) -> None:
        self.pod = pod
        self.tick = tick
        self._speed: int | None | str = "unknown"

    @property
    def speed(self) -> int | None:
        """The pod's speed (see pod_speed), asked once."""
        if self._speed == "unknown":
            self._speed = pod_speed(self.pod)
        return self._speed  # type: ignore[return-value]

    def poll_ms(self) -> int:
        """Pod milliseconds between status reads during a bolus: one pulse (2 s), at least 0.25 s real."""
        speed = self.speed
        return 2000 if speed is None else max(POLL_MS, 250 * speed)

    def wait(self, ms: int) -> None:
        """Let `ms` pod milliseconds pass; `tick` hears about it in slices (progress bars)."""
        speed = self.speed
        if speed is None:
            self.pod.bench("advance", ms=ms)
            if self.tick is not None:
                self.tick(ms)
            return
        left = ms
        while left > 0:
            step = min(left, 250 * speed)  # wake at least four times a second
            time.sleep(step / 1000 / speed)
            left -= step
            if self.tick is not None:
                self.tick(step)


@contextmanager
def open_pod(opts: Options, tick: Callable[[int], None] | None = None) -> Iterator[Any]:
    """The library's PodClient for this command's port and state directory, closed afterwards."""
    from handset.pod import PodClient
    client = PodClient.open(opts.port, opts.state, trace=opts.trace)
    client.wait_ms = PodTime(client, tick).wait
    try:
        yield client
    finally:
        client.close()


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field from a decoded block (dict) or a result object (attribute)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def delivery_text(delivery: int) -> str:
    """Delivery bits -> "basal + bolus", or "suspended"."""
    names = [name for bit, name in DELIVERY_BITS if delivery & bit]
    return " + ".join(names) if names else "suspended (no insulin)"


def alerts_text(mask: int) -> str:
    """Alert bitmask -> "low reservoir, expiry reminder", or "none"."""
    names = [f"{ALERT_NAMES[slot]} (slot {slot})" for slot in range(8) if mask & (1 << slot)]
    return ", ".join(names) if names else "none"


def reservoir_pulses(status: Any) -> int:
    """The status' reservoir in pulses, 0x3ff meaning "above 50 U" (the library gives None for that)."""
    value = field(status, "reservoir", None)
    return 0x3FF if value is None else int(value)


def reservoir_text(reservoir: int) -> str:
    """Reservoir pulses (0x3ff = above 50 U) -> text."""
    return "more than 50 U" if reservoir >= 0x3FF else units.format_units(reservoir)


def current_half_hour() -> int:
    """Index 0..47 of the current local half hour."""
    now = _dt.datetime.now()
    return now.hour * 2 + now.minute // 30


def time_of_day_ms(now: _dt.datetime | None = None) -> int:
    """Milliseconds since local midnight (the pod's basal schedule follows the person's day)."""
    now = now or _dt.datetime.now()
    return ((now.hour * 60 + now.minute) * 60 + now.second) * 1000 + now.microsecond // 1000
