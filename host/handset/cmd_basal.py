"""`handset basal show|set|delete|use`: named basal programs, stored in the state directory and
sent to the pod with `use`.
"""
from __future__ import annotations

import time

import click

from handset import units
from handset.errors import InvalidInput
from handset.settings import BasalPrograms, Settings
from handset.cmd_common import Options, common_options, open_pod

@click.group("basal")
def basal_group() -> None:
    """Named basal programs (up to 7, 24 segments each, half-hour boundaries)."""


@basal_group.command("show")
@click.argument("name", required=False)
@common_options()
def basal_show(name: str | None, opts: Options) -> None:
    """List the programs, or show one program's segments."""
    programs = BasalPrograms.load(opts.state)
    names = [name] if name else sorted(programs.programs)
    if name:
        programs.get(name)
    if opts.json:
        opts.out.json({"active": programs.active,
                       "programs": {n: {"rates_pph": programs.programs[n],
                                        "segments": units.format_program(programs.programs[n]),
                                        "total_pulses_per_day": sum(programs.programs[n]) // 2}
                                    for n in names}})
        return
    for program in names:
        rates = programs.programs[program]
        segments = units.program_segments(rates)
        rows = []
        for index, (start, rate) in enumerate(segments):
            end = segments[index + 1][0] if index + 1 < len(segments) else 48
            rows.append((f"{units.format_time_of_day(start)}–{units.format_time_of_day(end % 48) if end < 48 else '24:00'}",
                         units.format_rate(rate)))
        marker = " (active)" if program == programs.active else ""
        # 48 half hours: total per day = sum(rate_pph) / 2 pulses.
        opts.out.table(f"{program}{marker}: {units.format_units(sum(rates) // 2)} per day", ("time", "rate"), rows)


@basal_group.command("set")
@click.argument("name")
@click.argument("program")
@common_options()
def basal_set(name: str, program: str, opts: Options) -> None:
    """Store a program, for example `basal set day "00:00=0.8,06:30=1.2,22:00=0.9"` (not sent: see `basal use`)."""
    rates = units.parse_basal_program(program)
    settings = Settings.load(opts.state)
    programs = BasalPrograms.load(opts.state)
    programs.put(name, rates, settings.max_basal)
    programs.save(opts.state)
    if opts.json:
        opts.out.json({"ok": True, "stored": name, "rates_pph": rates, "running": name == programs.active})
        return
    opts.out.good(f"Stored basal program {name!r}: {units.format_program(rates)} "
                  f"({units.format_units(sum(rates) // 2)} per day).")
    if name == programs.active:
        opts.out.warn(f"{name!r} is the running program: send the change with `handset basal use {name}`.")
    else:
        opts.out.line(f"To run it: handset basal use {name}")


@basal_group.command("delete")
@click.argument("name")
@common_options()
def basal_delete(name: str, opts: Options) -> None:
    """Delete a stored program (not the running one)."""
    programs = BasalPrograms.load(opts.state)
    programs.delete(name)
    programs.save(opts.state)
    if opts.json:
        opts.out.json({"ok": True, "deleted": name})
        return
    opts.out.good(f"Deleted basal program {name!r}.")


@basal_group.command("use")
@click.argument("name")
@common_options()
def basal_use(name: str, opts: Options) -> None:
    """Send a stored program to the pod and make it the running one."""
    settings = Settings.load(opts.state)
    programs = BasalPrograms.load(opts.state)
    rates = programs.get(name)
    if max(rates) > settings.max_basal:
        raise InvalidInput(f"The program {name!r} exceeds your max basal rate of {units.format_rate(settings.max_basal)}: "
                           "lower the program or raise max_basal.")
    with open_pod(opts) as pod:
        status = pod.set_basal(rates, program=name)
    programs.active = name
    programs.save(opts.state)
    if opts.json:
        opts.out.json({"ok": True, "running": name, "rates_pph": rates, "pod_ms": status.pod_ms})
        return
    opts.out.good(f"Basal program {name!r} is running.")


COMMANDS: list[click.Command] = [basal_group]
