"""The emulator's side door for the handset library: bench operations (channel B, with request
ids) and the timeouts a slow board earns from what its bench tells about it. A real pod has no bench.
"""
from __future__ import annotations

from handset.client import PodConnection
from handset.errors import HandsetError
from handset.timeouts import for_board


class BenchAccess(PodConnection):
    """``bench(op, **args)`` and ``adapt_timeouts``."""

    def adapt_timeouts(self, latency_s: float, info: dict) -> None:
        """Lengthen the default timeouts for a slow board (see ``timeouts.for_board``); a timeout the
        person chose is kept."""
        slower = None if self.timeout_given else for_board(self.timeouts, latency_s, info)
        if slower is not None:
            self.timeouts = slower
            self._reply_timeout_s = slower.reply_s
            if self.session is not None:
                self.session.reply_timeout_s = slower.reply_s
                self.session.bench_timeout_s = slower.bench_s

    def bench(self, op: str, **args: object) -> dict:
        """One bench operation on the emulator (channel B): ``{"op": op, **args}`` → the JSON answer.

        :raises HandsetError: the emulator refused the operation (its sentence is passed on).
        """
        timeout = None
        if op == "advance":
            ms, seconds = args.get("ms"), args.get("seconds")
            span = ms if isinstance(ms, int) else 1000 * seconds if isinstance(seconds, int) else 0
            timeout = self.timeouts.advance_s(span)
        answer = self._session().bench({"op": op, **args}, timeout_s=timeout)
        if answer.get("ok") is False:
            raise HandsetError(f"The pod emulator refused the bench operation {op!r}: {answer.get('error')}")
        return answer
