"""The `handset` command line: the root group and its global options; the commands live in the
`cmd_*` modules by area and are added here from ``COMMAND_MODULES`` (a new area adds one line).
"""
from __future__ import annotations

from types import ModuleType

import click

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
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="handset")
@click.option("--port", envvar="HANDSET_PORT", default=None, metavar="URL",
              help="Pod link for every command: /dev/ttyX, socket://host:port (or host:port), rfc2217://…, "
                   "loop:// (env HANDSET_PORT).")
@click.option("--state", envvar="HANDSET_STATE", type=click.Path(file_okay=False), default=None,
              help="The handset's state directory (env HANDSET_STATE; default ~/.local/state/handset).")
@click.option("--trace", type=click.Path(dir_okay=False), default=None,
              help="Append every frame sent and received, decoded, to FILE.")
def main(port: str | None, state: str | None, trace: str | None) -> None:
    """Emulated OmniPod Eros handset (PDM), for development and testing only.

    It talks to an emulated pod over a serial line or a socket. Never use it with a real pump.
    """


#: Each module lists its click commands in ``COMMANDS``.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    cmd_life, cmd_delivery, cmd_basal, cmd_alerts, cmd_history, cmd_settings, cmd_shell,
    cmd_cgm, cmd_sim,
)

for _module in COMMAND_MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)
main.add_command(cmd_decode.decode)
