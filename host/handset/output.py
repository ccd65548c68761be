"""Terminal output that follows the terminal: rich colours, tables and bars on a TTY, plain lines when piped.

`Out` is what commands print through (with ``json_mode`` every line of prose goes to stderr, so
that stdout holds exactly the one JSON document); `Out.progress()` gives a bar on a TTY and a few plain
"label: done/total" lines otherwise (so logs and pipes stay readable). Errors go to stderr as one
sentence, never a traceback.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table


class Bar:
    """A progress indicator: `update(done, total, text)`; rich bar on a TTY, plain milestones otherwise."""

    def __init__(self, out: "Out", label: str, progress: Progress | None) -> None:
        self._out = out
        self._label = label
        self._progress = progress
        self._task = progress.add_task(label, total=None) if progress is not None else None
        self._last_plain: tuple[int, int] | None = None
        self._last_quarter = -1

    def update(self, done: int, total: int, text: str = "") -> None:
        """Report `done` of `total` steps; `text` is what the numbers mean (e.g. "1.25 of 2.00 U")."""
        if self._progress is not None and self._task is not None:
            description = f"{self._label} {text}".strip()
            self._progress.update(self._task, completed=done, total=max(total, 1), description=description)
            return
        # Plain: one line at start, at each quarter, and at the end, never the same line twice.
        quarter = 4 * done // total if total else 4
        if (done, total) != self._last_plain and (quarter != self._last_quarter or done == total):
            self._last_plain = (done, total)
            self._last_quarter = quarter
            self._out.line(f"{self._label}: {text or f'{done}/{total}'}")


class Out:
    """Where a command writes. `json_mode` prints machine-readable JSON instead of prose."""

    def __init__(self, json_mode: bool = False, force_tty: bool | None = None) -> None:
        self.json_mode = json_mode
        self.tty = sys.stdout.isatty() if force_tty is None else force_tty
        self.console = Console(highlight=False, soft_wrap=True) if self.tty else None
        self.err_console = Console(stderr=True, highlight=False, soft_wrap=True) if sys.stderr.isatty() else None

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line of prose (styled on a TTY); with --json it goes to stderr, stdout holds the JSON."""
        if self.json_mode:
            if self.err_console is not None:
                self.err_console.print(text, style=style, markup=False)
            else:
                print(text, file=sys.stderr, flush=True)
            return
        if self.console is not None:
            self.console.print(text, style=style, markup=False)
        else:
            print(text, flush=True)

    def good(self, text: str) -> None:
        """A success line (green on a TTY)."""
        self.line(text, style="green")

    def warn(self, text: str) -> None:
        """A warning line (yellow on a TTY; plain, to stdout, when piped)."""
        self.line(text, style="bold yellow")

    def error(self, text: str) -> None:
        """An error sentence on stderr (red on a TTY)."""
        if self.err_console is not None:
            self.err_console.print(text, style="bold red", markup=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def json(self, data: Any) -> None:
        """Machine-readable output."""
        print(json.dumps(data, indent=2, sort_keys=True, default=_jsonable), flush=True)

    def table(self, title: str | None, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table (rich on a TTY; tab-free aligned columns when piped; on stderr with --json)."""
        if self.json_mode:
            self._plain_table(title, headers, rows, sys.stderr)
            return
        if self.console is not None:
            table = Table(title=title, show_header=True, header_style="bold")
            for header in headers:
                table.add_column(header)
            for row in rows:
                table.add_row(*[str(c) for c in row])
            self.console.print(table)
            return
        self._plain_table(title, headers, rows, sys.stdout)

    @staticmethod
    def _plain_table(title: str | None, headers: Sequence[str], rows: Sequence[Sequence[str]], stream: Any) -> None:
        if title:
            print(title, file=stream)
        widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), file=stream)
        for row in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip(), file=stream)
        stream.flush()

    def pairs(self, title: str | None, items: Sequence[tuple[str, str]]) -> None:
        """Label: value lines (a two-column grid on a TTY; on stderr with --json)."""
        stream = sys.stderr if self.json_mode else sys.stdout
        if self.console is not None and not self.json_mode:
            table = Table(title=title, show_header=False, box=None, pad_edge=False)
            table.add_column(style="bold")
            table.add_column()
            for key, value in items:
                table.add_row(key, value)
            self.console.print(table)
            return
        if title:
            print(title, file=stream)
        width = max((len(k) for k, _ in items), default=0)
        for key, value in items:
            print(f"{key.ljust(width)}  {value}", file=stream)
        stream.flush()

    @contextmanager
    def progress(self, label: str) -> Iterator[Bar]:
        """A progress bar for the duration of the block."""
        if self.console is None or self.json_mode:
            yield Bar(self, label, None)
            return
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            yield Bar(self, label, progress)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "__dict__"):
        return vars(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
