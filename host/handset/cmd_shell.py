"""`handset shell`: an interactive prompt that runs handset commands, with completion and history.

On a terminal it uses prompt_toolkit (tab completion of commands and options, persistent history
in the state directory); when stdin is not a terminal it reads one command per line, so the shell
can be scripted. The --port/--state given to `shell` apply to every command typed in it.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click


PROMPT = "handset> "
EXIT_WORDS = {"exit", "quit", "q"}


def _root() -> click.Group:
    """The `handset` group this shell runs in (found from click's context, so no import of the CLI)."""
    root = click.get_current_context().find_root().command
    assert isinstance(root, click.Group)
    return root


def _command_words(main: click.Group) -> dict[str, list[str]]:
    """Every command (and `group sub`) with its options, for completion."""
    words: dict[str, list[str]] = {}
    for name, command in main.commands.items():
        if name == "shell":
            continue
        options = [opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("-")]
        words[name] = options
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                words[f"{name} {sub_name}"] = [o for p in sub.params for o in getattr(p, "opts", []) if o.startswith("-")]
    return words


def run_line(main: click.Group, line: str, port: str | None, state: str | None) -> int:
    """Run one typed command; returns its exit code (errors were already printed as sentences)."""
    try:
        args = shlex.split(line)
    except ValueError as exc:
        click.echo(f"The line cannot be split into words ({exc}): check the quotes.", err=True)
        return 2
    if not args:
        return 0
    if args[0] == "shell":
        click.echo("You are already in the shell.", err=True)
        return 2
    if args[0] == "help":
        args = args[1:] + ["--help"]
    # The shell's connection options go to the commands through their environment variables.
    if port:
        os.environ["HANDSET_PORT"] = port
    if state:
        os.environ["HANDSET_STATE"] = state
    try:
        main.main(args=args, prog_name="handset", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return 0


def _interactive(main: click.Group, port: str | None, state: str | None, history_file: Path) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import NestedCompleter
    from prompt_toolkit.history import FileHistory

    nested: dict[str, Any] = {}
    for phrase, options in _command_words(main).items():
        *groups, last = phrase.split(" ")
        level = nested
        for part in groups:
            if not isinstance(level.get(part), dict):
                level[part] = {}
            level = level[part]
        level[last] = {o: None for o in options} or None
    for word in EXIT_WORDS | {"help"}:
        nested[word] = None
    history_file.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession[str] = PromptSession(history=FileHistory(str(history_file)),
                                                completer=NestedCompleter.from_nested_dict(nested))
    code = 0
    while True:
        try:
            line = session.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            return code
        if line.strip() in EXIT_WORDS:
            return code
        code = run_line(main, line, port, state)


@click.command("shell")
@click.option("--port", envvar="HANDSET_PORT", default=None, help="Pod link for every command (env HANDSET_PORT).")
@click.option("--state", envvar="HANDSET_STATE", type=click.Path(file_okay=False), default=None,
              help="State directory for every command (env HANDSET_STATE).")
def shell_cmd(port: str | None, state: str | None) -> None:
    """Type handset commands at a prompt (Tab completes, ↑ recalls, `exit` leaves)."""
    main = _root()
    if sys.stdin.isatty() and sys.stdout.isatty():
        from handset.state import default_state_dir
        base = Path(state) if state else default_state_dir()
        code = _interactive(main, port, state, base / "shell-history")
    else:
        code = 0
        for line in sys.stdin:
            if line.strip() in EXIT_WORDS:
                break
            if line.strip() and not line.lstrip().startswith("#"):
                print(f"{PROMPT}{line.strip()}", flush=True)
                code = run_line(main, line, port, state)
    raise SystemExit(code)


COMMANDS: list[click.Command] = [shell_cmd]
