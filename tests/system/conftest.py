"""Targets of the end-to-end tests and the fixtures that start a pod on each.

Targets:
  tcp     the firmware under unix MicroPython, --listen on a free local port (socket:// URL)
  pty     the firmware under unix MicroPython, --serial on one end of a pty null-modem; the test
          opens the other end with pyserial, exactly as it would open a USB serial port
  serial  a board at --port URL (for example a Pico at /dev/ttyACM0), never restarted by the
          runner: before each test the bench op `fresh` erases the pod and applies the test's
          options (fill, lot, tid, clock, speed, occlusion threshold). `--port emu` starts the
          emulated Pico (tests/pico/emulator.py) once for the session and uses its serial link.
          Every timeout is scaled for a board (POD_TIMEOUT_SCALE, default 10 for the emulated
          Pico, 3 for a real one): a slow board is slower, not failed.

By default every test runs against tcp and pty; --target picks one. --heap SIZE runs every
started firmware in a heap of that size (micropython -X heapsize=SIZE, for example 192k).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pico.board import Board

from .nullmodem import NullModem
from .podlink import PodLink, PodProcess, free_port

LOCAL_TARGETS = ("tcp", "pty")


def selected_targets(config: pytest.Config) -> list[str]:
    target = config.getoption("--target")
    if target and not config.getoption("--all-targets"):
        return [target]
    return list(LOCAL_TARGETS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        wanted = selected_targets(metafunc.config)
        marker = metafunc.definition.get_closest_marker("targets")
        if marker is not None:
            wanted = [t for t in wanted if t in marker.args] or wanted
            params = [pytest.param(t, marks=() if t in marker.args else pytest.mark.skip(
                reason=f"this test does not apply to target {t}")) for t in wanted]
        else:
            params = wanted
        metafunc.parametrize("target", params)


@pytest.fixture(scope="session")
def board(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """The board of --target serial, for the whole session (`--port emu`: the emulated Pico)."""
    port = request.config.getoption("--port")
    if port != "emu":
        yield Board(port)
        return
    from pico.emulator import EmulatedPico, build_flash, missing

    why = missing()
    if why:
        pytest.skip(f"no emulated Pico: {why}")
    flash = tmp_path_factory.mktemp("pico") / "flash.bin"
    build_flash(flash, "--clock virtual")
    emulated = EmulatedPico(flash)
    try:
        yield Board(emulated.url, emulated)
    finally:
        emulated.kill()


class PodStarter:
    """Starts pods for one test and always stops them (and their null-modems) afterwards."""

    def __init__(self, micropython: str, tmp_path: Path, config: pytest.Config,
                 board: Callable[[], Board] | None = None) -> None:
        self.micropython = micropython
        self.tmp_path = tmp_path
        self.config = config
        self._board = board
        self.processes: list[PodProcess] = []
        self._stack = contextlib.ExitStack()
        self._count = 0

    def __call__(self, target: str, extra_args: list[str] | None = None, state_dir: Path | None = None,
                 heapsize: str | None = None, clock: str = "virtual", bench: bool = True) -> PodLink:
        """Start a pod on `target` and return an open PodLink to it."""
        if target == "serial":
            return self._start_board(extra_args or [], state_dir, clock, bench)
        self._count += 1
        state = state_dir or self.tmp_path / f"pod{self._count}"
        heapsize = heapsize or self.config.getoption("--heap")
        kw = dict(extra_args=extra_args, heapsize=heapsize, clock=clock, bench=bench,
                  micropypath=self.config.getoption("--micropypath"))
        if target == "tcp":
            for attempt in range(3):  # a free port can be taken between our check and the bind
                port = free_port()
                proc = self._start(state, ["--listen", f"127.0.0.1:{port}"], "listening on", **kw)
                try:
                    proc.wait_ready()
                    break
                except RuntimeError:
                    if attempt == 2 or "cannot listen" not in proc.stderr():
                        raise
            return self._stack.enter_context(PodLink(f"socket://127.0.0.1:{port}"))
        if target == "pty":
            modem = NullModem()
            self._stack.callback(modem.close)
            proc = self._start(state, ["--serial", modem.a_path], "link open", **kw)
            proc.wait_ready()
            return self._stack.enter_context(PodLink(modem.b_path))
        raise ValueError(f"unknown target {target!r}")

    def _start_board(self, extra_args: list[str], state_dir: Path | None, clock: str, bench: bool) -> PodLink:
        """The board is never restarted: the bench op `fresh` makes it a new pod with these options."""
        if state_dir is not None or not bench:
            pytest.skip("a board keeps its one state folder and always answers the bench")
        assert self._board is not None
        board = self._board()
        request = board.fresh_request(extra_args, clock)
        if board.emulated is not None:
            board.emulated.block(False)  # the plunger moves freely again
        link = self._stack.enter_context(board.connect())
        reply = link.bench(request)
        assert reply.get("ok") is True, f"the board refused {request}: {reply}"
        link.poll()
        link.logs.clear()
        return link

    def _start(self, state: Path, link_args: list[str], ready: str, **kw) -> PodProcess:
        proc = PodProcess(self.micropython, state, link_args, ready, **kw)
        self.processes.append(proc)
        self._stack.callback(proc.stop)
        return proc

    def close(self) -> list[str]:
        """Stop everything; returns the stderr of every pod that printed a traceback."""
        self._stack.close()
        return [p.stderr() for p in self.processes if "Traceback" in p.stderr()]


@pytest.fixture
def start_pod(micropython: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., PodLink]]:
    """A factory: start_pod(target, extra_args=[...], state_dir=..., heapsize=..., clock=..., bench=...)."""
    starter = PodStarter(micropython, tmp_path, request.config, lambda: request.getfixturevalue("board"))
    try:
        yield starter
    finally:
        crashed = starter.close()
    if crashed:
        pytest.fail("the firmware printed a traceback:\n" + "\n".join(crashed))


@pytest.fixture
def pod(start_pod: PodStarter, target: str) -> PodLink:
    """A fresh pod on the current target: virtual clock, bench enabled, empty state directory."""
    return start_pod(target)
