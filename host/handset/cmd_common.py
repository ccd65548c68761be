"""What every `handset` command shares: the connection options and the error boundary, the pod's
clock (real, sped up or virtual) for waiting, and the wording of delivery bits, alerts and reservoir.
"""
from __future__ import annotations

import datetime as _dt
import functools
import os
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, TypeVar

import click

from handset import units
from handset.errors import HandsetError, InvalidInput, PodFaulted, PodRejected
from handset.output import Out
from handset.podclock import PodTime

DEFAULT_PORT = "socket://127.0.0.1:7410"

DELIVERY_BITS = ((1, "basal"), (2, "temp basal"), (4, "bolus"), (8, "extended bolus"))
ALERT_NAMES = {
    0: "auto-off", 1: "slot 1 (unused)", 2: "shutdown imminent (79 h)", 3: "expiration reminder",
    4: "low reservoir", 5: "pod suspended reminder", 6: "suspend time is over", 7: "pod expired (72 h)",
}
FINISH_SETUP_MINUTES = 55  # slot 7 as the activation's finish-setup reminder (55 min long)

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
    timeout: float | None = None

    @property
    def out(self) -> Out:
        """Where this command prints (prose to stderr when --json)."""
        return Out(json_mode=self.json)


F = TypeVar("F", bound=Callable[..., Any])


def _default_state() -> Path:
    from handset.state import default_state_dir
    return default_state_dir()


def common_options() -> Callable[[F], F]:
    """--port, --state, --trace and --json on a command; they arrive as `opts: Options`."""
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, port: str | None, state: str | None, trace: str | None, as_json: bool = False,
                    **kwargs: Any) -> Any:
            # Each option may also be given before the command name (`handset --port URL status`).
            top = click.get_current_context().find_root().params
            url: str = port or top.get("port") or DEFAULT_PORT
            state = state or top.get("state")
            trace = trace or top.get("trace")
            opts = Options(url, Path(state) if state else _default_state(), trace, as_json, top.get("timeout"))
            return guarded(opts.out, lambda: func(*args, opts=opts, **kwargs))

        wrapped: Any = click.option(
            "--json", "as_json", is_flag=True,
            help="Print one JSON document on stdout (progress and messages go to stderr).")(wrapper)
        wrapped = click.option("--trace", type=click.Path(dir_okay=False), default=None,
                               help="Append every frame sent and received to FILE.")(wrapped)
        wrapped = click.option("--state", type=click.Path(file_okay=False), default=None,
                               help="State directory (env HANDSET_STATE; default ~/.local/state/handset).")(wrapped)
        wrapped = click.option("--port", default=None,
                               help="Pod link: /dev/ttyX, socket://host:port (or host:port), rfc2217://host:port, loop:// "
                                    f"(env HANDSET_PORT; default {DEFAULT_PORT}).")(wrapped)
        return wrapped  # type: ignore[no-any-return]
    return decorate


def guarded(out: Out, action: Callable[[], Any]) -> Any:
    """Run a command: a HandsetError becomes its sentence and exit code; nothing prints a traceback.

    With --json the error is also the one JSON document on stdout: ``{"ok": false, "error", "exit_code"}``
    plus ``pod_error_code`` (a refusal) or ``fault_code`` (a fault) when there is one.
    """
    try:
        return action()
    except HandsetError as exc:
        _fail(out, str(exc), exc.exit_code, _error_details(exc))
    except KeyboardInterrupt:
        _fail(out, "Interrupted.", 130, {})
    except (click.exceptions.Exit, click.ClickException):
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a sentence, not a traceback
        if os.environ.get("HANDSET_DEBUG"):
            traceback.print_exc()
        _fail(out, f"Unexpected error ({type(exc).__name__}: {exc}): this is a bug in the handset; "
                   "run again with HANDSET_DEBUG=1 and report the traceback.", 1, {})


def _error_details(exc: HandsetError) -> dict[str, Any]:
    if isinstance(exc, PodRejected):
        return {"pod_error_code": exc.code}
    if isinstance(exc, PodFaulted):
        return {"fault_code": exc.fault_code, "fault_name": exc.fault_name,
                "details": {k: v for k, v in exc.details.items() if isinstance(v, (int, str))}}
    return {}


def _fail(out: Out, sentence: str, code: int, details: dict[str, Any]) -> NoReturn:
    out.error(sentence)
    if out.json_mode:
        out.json({"ok": False, "error": sentence, "exit_code": code, **details})
    raise SystemExit(code) from None


def confirm(question: str, yes: bool) -> bool:
    """Ask ``question`` on the terminal; ``yes`` (the command's --yes) answers it without asking.

    :raises InvalidInput: there is no terminal to ask on and --yes was not given.
    """
    if yes:
        return True
    if not sys.stdin.isatty():
        raise InvalidInput(f"This command asks \"{question}\" and there is no terminal to answer on: "
                           "add --yes to answer yes, or run it in a terminal. Nothing was sent.")
    try:
        return click.confirm(question, default=False, err=True)
    except click.exceptions.Abort:
        return False


@contextmanager
def open_pod(opts: Options, tick: Callable[[int], None] | None = None) -> Iterator[Any]:
    """The library's PodClient for this command's port and state directory, closed afterwards.

    What the handset corrected in its record from the pod (``client.notices``) is said at the end.
    """
    from handset.pod import PodClient
    client = PodClient.open(opts.port, opts.state, trace=opts.trace, reply_timeout_s=opts.timeout)
    client.wait_ms = PodTime(client, tick).wait
    try:
        yield client
    finally:
        for notice in client.notices:
            opts.out.warn(notice)
        client.notices.clear()
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


def alert_name(slot: int, configured: dict[str, dict] | None = None) -> str:
    """The name of alert slot ``slot``; slot 7 is the finish-setup reminder until the activation re-arms it."""
    if slot == 7 and configured and int((configured.get("7") or {}).get("duration_minutes", 0)) == FINISH_SETUP_MINUTES:
        return "finish setup"
    return ALERT_NAMES[slot]


def alerts_text(mask: int, configured: dict[str, dict] | None = None) -> str:
    """Alert bitmask -> "low reservoir (slot 4), expiration reminder (slot 3)", or "none"."""
    names = [f"{alert_name(slot, configured)} (slot {slot})" for slot in range(8) if mask & (1 << slot)]
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
