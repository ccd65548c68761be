"""The `handset` command line: one click group; each command lives in its own module."""
from __future__ import annotations

import click

from handset import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="handset")
@click.option("--port", envvar="HANDSET_PORT", default=None, metavar="URL",
              help="Pod link for every command: /dev/ttyX, socket://host:port, rfc2217://…, loop:// (env HANDSET_PORT).")
@click.option("--state", envvar="HANDSET_STATE", type=click.Path(file_okay=False), default=None,
              help="The handset's state directory (env HANDSET_STATE; default ~/.local/state/handset).")
@click.option("--trace", type=click.Path(dir_okay=False), default=None,
              help="Append every frame sent and received, decoded, to FILE.")
def main(port: str | None, state: str | None, trace: str | None) -> None:
    """Emulated OmniPod Eros handset (PDM), for development and testing only.

    It talks to an emulated pod over a serial line or a socket. Never use it with a real pump.
    """


def _register() -> None:
    # Commands register themselves on `main` when their module is imported.
    from handset import cmd_decode  # noqa: F401
    from handset import cmd_pod  # noqa: F401
    from handset import cmd_shell  # noqa: F401


_register()
