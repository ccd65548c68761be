"""The ``podctl`` command: the operator's console beside a running app (SPEC.md section 6).

Every command is one bench operation (or a few) on the pod's bench port. Errors are sentences;
exit codes are those of podctl.errors (2 bad input, 3 unreachable, 8 refused). ``--json`` prints
the bench's reply as JSON instead of lines for a person.
"""
from __future__ import annotations

import json
import sys
from typing import Callable

import click

from podctl.client import DEFAULT_TIMEOUT_S, DEFAULT_URL, BenchClient
from podctl.errors import PodctlError
from podctl.units import format_span, format_units, parse_code, parse_minutes, parse_pulses, parse_span_ms
from podctl.view import armed_text, info_lines


class Ctx:
    """Options of the group, and the client opened on first use."""

    def __init__(self, port: str, timeout: float, as_json: bool) -> None:
        self.port = port
        self.timeout = timeout
        self.as_json = as_json
        self._client: BenchClient | None = None

    @property
    def client(self) -> BenchClient:
        if self._client is None:
            self._client = BenchClient(self.port, self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def show(self, reply: dict, sentence: str) -> None:
        """Print the reply as JSON (``--json``) or the sentence for a person."""
        click.echo(json.dumps(reply, sort_keys=True) if self.as_json else sentence)


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", "-p", envvar="PODCTL_PORT", default=DEFAULT_URL, show_default=True,
              help="The pod's bench: socket://HOST:PORT of --bench-listen, or a device path (env PODCTL_PORT).")
@click.option("--timeout", envvar="PODCTL_TIMEOUT", default=DEFAULT_TIMEOUT_S, show_default=True, type=float,
              help="Seconds to wait for each reply (env PODCTL_TIMEOUT); raise it for a slow board.")
@click.option("--json", "as_json", is_flag=True, help="Print the bench's reply as JSON.")
@click.pass_context
def cli(ctx: click.Context, port: str, timeout: float, as_json: bool) -> None:
    """The operator's console of the emulated Eros pod: break things on purpose, watch the pod.

    For development and testing only. Start the pod with --bench-listen 127.0.0.1:7411.
    """
    ctx.obj = Ctx(port, timeout, as_json)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@pass_ctx
def info(c: Ctx) -> None:
    """The pod as the emulator sees it: progress, fault, delivery, reservoir, armed faults."""
    reply = c.client.request("info")
    c.show(reply, "\n".join(f"{label:<14} {value}" for label, value in info_lines(reply)))


@cli.command()
@click.argument("span")
@pass_ctx
def advance(c: Ctx, span: str) -> None:
    """Move the virtual clock forward by SPAN (2h, 90m, 30s): every pulse and timer happens in order."""
    ms = parse_span_ms(span)
    reply = c.client.request("advance", ms=ms)
    c.show(reply, f"Advanced {format_span(ms)}: the pod clock is at {format_span(reply['now_ms'])}.")


@cli.command()
@click.argument("factor", type=click.IntRange(1, 100000))
@pass_ctx
def speed(c: Ctx, factor: int) -> None:
    """Run the real clock FACTOR times faster from now on."""
    reply = c.client.request("speed", speed=factor)
    c.show(reply, f"The pod clock runs {reply['speed']}x real time.")


@cli.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@pass_ctx
def occlude(c: Ctx, state: str) -> None:
    """Block (on) or free (off) the line: every stroke fails while it is blocked."""
    reply = c.client.request("occlude", on=state == "on")
    c.show(reply, f"The line is {'blocked' if reply['occluded'] else 'free'}.")


def _message_fault(fault: str, **extra: object) -> Callable[..., None]:
    """A command that arms one message fault (bench op inject)."""

    @click.option("--count", "-n", default=1, show_default=True, type=click.IntRange(1, 1000),
                  help="How many of the next messages.")
    @click.option("--block", default=None, help="Only messages holding a block of this type, e.g. 0x17 (bolus).")
    @pass_ctx
    def command(c: Ctx, count: int, block: str | None, **kw: object) -> None:
        members: dict[str, object] = {"fault": fault, "count": count, **extra}
        if block is not None:
            members["block"] = parse_code(block, "The block type", 0, 255)
        if "span" in kw:
            members["ms"] = parse_span_ms(str(kw["span"]), "The delay")
        if kw.get("truncate"):
            members["how"] = "truncate"
        reply = c.client.request("inject", **members)
        c.show(reply, "Armed: " + "; ".join(armed_text(a) for a in reply["armed"]) + ".")

    return command


cli.command("lose-next-reply", help="Carry out the next command but lose its reply.")(_message_fault("lose"))
cli.command("drop-next-command", help="Drop the next command: not carried out, no reply.")(_message_fault("drop"))
cli.command("delay-next-reply", help="Carry out the next command and send its reply after SPAN (3s).")(
    click.argument("span")(_message_fault("delay")))
cli.command("corrupt-next-reply", help="Carry out the next command and damage its reply (a CRC bit, or --truncate).")(
    click.option("--truncate", is_flag=True, help="Cut the reply to half its length instead.")(_message_fault("corrupt")))


@cli.command("clear-faults")
@pass_ctx
def clear_faults(c: Ctx) -> None:
    """Disarm every message fault not yet used."""
    reply = c.client.request("inject", fault="none")
    c.show(reply, "No message fault is armed.")


@cli.command()
@click.argument("code")
@pass_ctx
def fault(c: Ctx, code: str) -> None:
    """Fault the pod now with CODE (0x14 occlusion, 0x18 empty, any 0x01..0xff)."""
    reply = c.client.request("fault", code=parse_code(code))
    c.show(reply, f"The pod faulted 0x{reply['pod']['fault']:02x} at progress {reply['pod']['progress']}.")


@cli.command()
@click.argument("units")
@pass_ctx
def reservoir(c: Ctx, units: str) -> None:
    """Set the insulin left in the reservoir to UNITS (12.5), in the pod's count and the mechanism."""
    reply = c.client.request("reservoir", pulses=parse_pulses(units, "The reservoir"))
    c.show(reply, f"The reservoir holds {format_units(reply['pod']['reservoir'])}.")


@cli.command()
@click.argument("span")
@pass_ctx
def age(c: Ctx, span: str) -> None:
    """Set the pod's age since activation to SPAN (71h): expiry and the 80-hour end follow."""
    reply = c.client.request("age", minutes=parse_minutes(span))
    minutes = reply["pod"]["minutes"]
    c.show(reply, f"The pod is {minutes // 60}h{minutes % 60:02d}m old.")


@cli.command()
@pass_ctx
def dry(c: Ctx) -> None:
    """Run the mechanism dry: strokes push nothing while the pod still counts insulin."""
    reply = c.client.request("dry")
    c.show(reply, "The mechanism is dry: no stroke pushes insulin until `podctl reservoir` fills it.")


@cli.command("power-cut")
@click.option("--within", default="0s", show_default=True, help="A random moment within this span of pod time.")
@click.option("--cancel", is_flag=True, help="Disarm the power cut.")
@pass_ctx
def power_cut(c: Ctx, within: str, cancel: bool) -> None:
    """Cut the pod's power (it restarts from its saved state) at a random moment."""
    if cancel:
        reply = c.client.request("power_cut", cancel=True)
        c.show(reply, "No power cut is armed.")
        return
    reply = c.client.request("power_cut", ms=parse_span_ms(within))
    c.show(reply, f"Power cut armed at pod time {format_span(reply['power_cut_ms'])}.")


@cli.command()
@pass_ctx
def reset(c: Ctx) -> None:
    """Power-cycle the pod now (it restarts from its saved state)."""
    reply = c.client.request("reset")
    c.show(reply, f"The pod restarted at progress {reply['pod']['progress']}.")


@cli.command()
@click.option("--lot", type=click.IntRange(0, 0xFFFFFFFF), help="Lot number (default: the pod's start-up one).")
@click.option("--tid", type=click.IntRange(0, 0xFFFFFFFF), help="TID (default: the pod's start-up one).")
@click.option("--fill", help="Insulin in the reservoir, in units (default: the pod's start-up fill).")
@click.option("--clock", type=click.Choice(["virtual", "real"]), help="The new pod's clock.")
@click.option("--speed", "speed_", type=click.IntRange(1, 100000), help="Real clock speed-up.")
@click.option("--occlusion", help="Missed insulin that faults the pod 0x14, 3 to 5 units.")
@pass_ctx
def fresh(c: Ctx, lot: int | None, tid: int | None, fill: str | None, clock: str | None, speed_: int | None,
          occlusion: str | None) -> None:
    """Erase the pod and start a new, unpaired one (the app must pair again)."""
    members: dict[str, object] = {}
    for name, value in (("lot", lot), ("tid", tid), ("clock", clock), ("speed", speed_)):
        if value is not None:
            members[name] = value
    if fill is not None:
        members["fill_pulses"] = parse_pulses(fill, "The fill")
    if occlusion is not None:
        members["occlusion_pulses"] = parse_pulses(occlusion, "The occlusion threshold")
    reply = c.client.request("fresh", **members)
    pod = reply["pod"]
    c.show(reply, f"A fresh pod: lot {pod['lot']} tid {pod['tid']}, {format_units(pod['reservoir'])}, "
                  f"{reply['clock']} clock, waiting to be paired.")


@cli.command()
@click.option("--since", type=click.IntRange(0), default=None, help="The first beep number wanted.")
@pass_ctx
def beeps(c: Ctx, since: int | None) -> None:
    """The pod's beeps: when, and which beep type."""
    reply = c.client.request("beeps", **({"since": since} if since is not None else {}))
    lines = [f"#{reply['first'] + i:<4} at {format_span(ms):>8}  beep type {kind}"
             for i, (ms, kind) in enumerate(reply["beeps"])]
    c.show(reply, "\n".join(lines) if lines else "No beeps.")


@cli.command()
@click.option("--interval", default=0.5, show_default=True, type=click.FloatRange(0.1, 60), help="Seconds between reads.")
@click.option("--once", is_flag=True, help="Draw one frame and stop (for scripts).")
@pass_ctx
def watch(c: Ctx, interval: float, once: bool) -> None:
    """A live view of the pod in the terminal (Ctrl-C stops it)."""
    from podctl.watch import run_watch
    run_watch(c.client, interval, once)


@cli.command()
@click.option("--listen", default="127.0.0.1:8410", show_default=True, help="HOST:PORT of the page.")
@pass_ctx
def web(c: Ctx, listen: str) -> None:
    """A live web page of the pod, with a button for every fault and for time."""
    from podctl.web import serve
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("give HOST:PORT, for example 127.0.0.1:8410", param_hint="--listen")
    serve(c.client, host, int(port))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, print an error as a sentence and exit with its code."""
    try:
        cli.main(args=argv, prog_name="podctl", standalone_mode=False)
    except PodctlError as exc:
        click.echo(f"podctl: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
