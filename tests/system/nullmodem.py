"""A null-modem cable made of two pseudo-terminals.

Each pty pair has a master and a slave (/dev/pts/N). A relay thread copies bytes between the two
masters, so whatever is written to slave A comes out of slave B and back: the firmware opens
slave A with --serial (its termios path) and the test opens slave B with pyserial (the host's
serial path), and neither side knows it is not a cable.
"""
from __future__ import annotations

import os
import pty
import select
import threading
import tty


class NullModem:
    """Two linked pty slaves, `a_path` and `b_path`. Use as a context manager or call close()."""

    def __init__(self) -> None:
        self._a_master, self._a_slave = pty.openpty()
        self._b_master, self._b_slave = pty.openpty()
        # Raw mode from the start: no echo, no line editing, before either side opens its end.
        # Our own slave descriptors stay open so that the masters never read a hang-up.
        tty.setraw(self._a_slave)
        tty.setraw(self._b_slave)
        self.a_path = os.ttyname(self._a_slave)
        self.b_path = os.ttyname(self._b_slave)
        self.relayed = 0
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, name="nullmodem", daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        peer = {self._a_master: self._b_master, self._b_master: self._a_master}
        while True:
            ready, _, _ = select.select([self._a_master, self._b_master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # EIO: nobody holds the slave right now
                    continue
                if data:
                    os.write(peer[fd], data)
                    self.relayed += len(data)

    def close(self) -> None:
        if self._thread.is_alive():
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=2)
        for fd in (self._a_master, self._a_slave, self._b_master, self._b_slave, self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "NullModem":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
