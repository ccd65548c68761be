"""Pod life: `handset activate` (and its alias `pair`) and `deactivate`; `status` is in ``cmd_status``."""
from __future__ import annotations

import click

from handset import units
from handset.errors import InvalidInput
from handset.blocks import time_of_day_ms
from handset.cmd_common import Options, common_options, confirm, open_pod
from handset.settings import BasalPrograms, Settings


@click.command("activate")
@click.option("--program", "program_name", default=None, help="Basal program to start (default: the active one).")
@common_options()
def activate_cmd(program_name: str | None, opts: Options) -> None:
    """Pair with a new pod, prime it, program the basal and insert the cannula, as the real PDM does."""
    _activate(program_name, opts)


@click.command("pair")
@click.option("--program", "program_name", default=None, help="Basal program to start (default: the active one).")
@common_options()
def pair_cmd(program_name: str | None, opts: Options) -> None:
    """The same as `activate`: pair with a new pod and start it."""
    _activate(program_name, opts)


def _activate(program_name: str | None, opts: Options) -> None:
    out = opts.out
    settings = Settings.load(opts.state)
    programs = BasalPrograms.load(opts.state)
    name = program_name or programs.active or sorted(programs.programs)[0]
    rates = programs.get(name)
    if max(rates) > settings.max_basal:
        raise InvalidInput(f"The program {name!r} exceeds your max basal rate of {units.format_rate(settings.max_basal)}: "
                           "lower the program or raise max_basal.")
    # The bar counts the pod time activation needs: prime 52 pulses at 1 s, cannula 10 at 1 s, 3-s pauses.
    expected_ms = (52 + 3 + 10 + 3) * 1000
    with out.progress("Activating") as bar:
        elapsed = [0]
        step_text = ["pairing"]

        def tick(ms: int) -> None:
            elapsed[0] = min(expected_ms, elapsed[0] + ms)
            bar.update(elapsed[0] // 1000, expected_ms // 1000, step_text[0])

        def progress(step: str, detail: str = "") -> None:
            step_text[0] = detail or step
            if step == "done":
                elapsed[0] = expected_ms
            bar.update(elapsed[0] // 1000, expected_ms // 1000, step_text[0])

        with open_pod(opts, tick) as pod:
            result = pod.activate(rates, time_of_day_ms(), settings.low_reservoir // units.PULSES_PER_UNIT,
                                  settings.expiry_reminder, progress)
    programs.active = name
    programs.save(opts.state)
    if out.json_mode:
        out.json({"ok": True, "activated": True, "program": name, "status": result.to_json()})
        return
    out.good(f"The pod is active and running basal program {name!r}.")


@click.command("deactivate")
@click.option("--yes", "-y", is_flag=True, help="Do not ask to confirm (needed when there is no terminal).")
@common_options()
def deactivate_cmd(yes: bool, opts: Options) -> None:
    """Stop the pod for good (it must then be removed); the handset forgets it."""
    if not confirm("Deactivate the pod? It will stop delivering insulin for good", yes):
        raise InvalidInput("Deactivation not confirmed: nothing was sent.")
    with open_pod(opts) as pod:
        address = f"{pod.record.address:08x}" if pod.record is not None else None
        pod.deactivate()
    if opts.json:
        opts.out.json({"ok": True, "deactivated": True, "pod": address})
        return
    opts.out.good("The pod is deactivated: remove it and activate a new one with `handset activate`.")


COMMANDS: list[click.Command] = [activate_cmd, pair_cmd, deactivate_cmd]
