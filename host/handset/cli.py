"""The `handset` command line: the root group and its global options; the commands live in the
`cmd_*` modules by area and are added here from ``COMMAND_MODULES`` (a new area adds one line).
"""
from __future__ import annotations

from types import ModuleType

import click

from handset.errors import HandsetError
from handset import (
    __version__,
    cmd_alerts,
    cmd_basal,
    cmd_cgm,
    cmd_decode,
    cmd_delivery,
    cmd_history,
    cmd_life,
    cmd_settings,
    cmd_shell,
    cmd_sim,
    cmd_status,
)
from handset.timeouts import ENV as TIMEOUT_ENV
from handset.timeouts import parse_timeout


class HandsetGroup(click.Group):
    """The root group; its command list shows each command's whole first sentence, not a cut one."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=400)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _timeout(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_timeout(value, "--timeout")
    except HandsetError as exc:  # shown as click's usage error (exit 2)
        raise click.BadParameter(str(exc)) from None


@click.group(cls=HandsetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="handset")
@click.option("--port", envvar="HANDSET_PORT", default=None, metavar="URL",
              help="Pod link for every command: /dev/ttyX, socket://host:port (or host:port), rfc2217://…, "
                   "loop:// (env HANDSET_PORT).")
@click.option("--state", envvar="HANDSET_STATE", type=click.Path(file_okay=False), default=None,
              help="The handset's state directory (env HANDSET_STATE; default ~/.local/state/handset).")
@click.option("--trace", type=click.Path(dir_okay=False), default=None,
              help="Append every frame sent and received, decoded, to FILE.")
@click.option("--timeout", metavar="SECONDS", default=None, callback=_timeout,
              help=f"How long to wait for each reply of the pod (env {TIMEOUT_ENV}; default from the link: 1.5 s on a "
                   "socket, 3 s on a serial line); bench operations and activation steps wait a multiple of it.")
def main(port: str | None, state: str | None, trace: str | None, timeout: float | None) -> None:
    """Emulated OmniPod Eros handset (PDM), for development and testing only.

    It talks to an emulated pod over a serial line or a socket. Never use it with a real pump.
    """


#: Each module lists its click commands in ``COMMANDS``.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    cmd_life, cmd_status, cmd_delivery, cmd_basal, cmd_alerts, cmd_history, cmd_settings, cmd_shell,
    cmd_cgm, cmd_sim,
)

for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)
main.add_command(cmd_decode.decode)
