"""The handset's memory of its pod, kept in a state directory as JSON files.

Layout of the state directory (default ``$XDG_STATE_HOME/handset`` = ``~/.local/state/handset``):

``pod.json``       the active pod: address, lot, tid, nonce words, next sequence number, programs,
                   settings, the last status read. Rewritten atomically (temp file, fsync, rename).
``history.jsonl``  append-only: one JSON record per line, never rewritten. A command is recorded
                   with its outcome ("confirmed", "unconfirmed", "rejected"); an unconfirmed
                   command is settled later by a ``settle`` record that names it. The record
                   kinds and their fields are documented in ``handset.history``.
``pairing.json``   a pairing under way (address, lot, tid, set-up time), so that a lost SetupPod
                   reply can be asked again with the same bytes; removed once the pod is paired.
``pods/``          pod.json of deactivated pods, kept for reference.
``lock``           flock'ed while a handset uses the directory, so two handsets cannot interleave.

A crash never leaves a half-written pod.json (os.replace is atomic); a crash in the middle of a
history append leaves at most one truncated last line, which readers skip.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

from handset.errors import StateError

POD_FILE = "pod.json"
PAIRING_FILE = "pairing.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = "lock"

CONFIRMED = "confirmed"
UNCONFIRMED = "unconfirmed"
REJECTED = "rejected"
NOT_RUN = "not run"


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/handset``, or ``~/.local/state/handset``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "handset"


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclasses.dataclass
class PodRecord:
    """What the handset knows about its active pod (persisted as pod.json)."""

    address: int
    lot: int
    tid: int
    nonce_words: list[int]
    next_seq: int = 0
    progress: int = 0
    activated_at: str = ""
    pm_version: list[int] = dataclasses.field(default_factory=list)
    pi_version: list[int] = dataclasses.field(default_factory=list)
    basal_rates_pph: list[int] | None = None
    # Alert configurations sent to the pod, by slot number (as strings, JSON keys).
    alerts: dict[str, dict] = dataclasses.field(default_factory=dict)
    # The running temporary basal: {"rate_pph", "half_hours", "started_at"}, or None.
    temp_basal: dict | None = None
    last_status: dict | None = None
    last_status_at: str = ""
    # The fault code once the pod has reported one.
    faulted: int | None = None
    deactivated: bool = False

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "PodRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` so that a crash leaves either the old or the new file.

    The data goes to a temporary file in the same directory, is fsync'ed, then renamed over the
    target; the directory is fsync'ed so that the rename itself survives a power cut.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(obj, indent=1, sort_keys=True).encode() + b"\n"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StateStore:
    """The state directory: the active pod record and the command history.

    :param directory: where the files live; created if missing.
    :raises StateError: the directory cannot be created or written.
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.dir = Path(directory) if directory is not None else default_state_dir()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"Cannot create the state directory {self.dir} ({exc.strerror}): choose another with --state DIR.") from exc
        self._lock_fd: int | None = None
        self._tail: tuple[int, int] | None = None  # (history size, last id) after our last append

    # -- locking ---------------------------------------------------------------------------

    def lock(self) -> None:
        """Take the directory for this process.

        :raises StateError: another handset holds it.
        """
        if self._lock_fd is not None:
            return
        fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise StateError(
                f"Another handset is using the state directory {self.dir}: wait for it to finish, or use another "
                "directory with --state DIR."
            ) from exc
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the directory (idempotent)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    # -- the pod record --------------------------------------------------------------------

    def load_pod(self) -> PodRecord | None:
        """The active pod, or None when there is none.

        :raises StateError: pod.json exists but cannot be read.
        """
        path = self.dir / POD_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(
                f"The pod record {path} cannot be read ({exc}): restore it from a backup, or move it away to start over."
            ) from exc
        try:
            return PodRecord.from_json(data)
        except TypeError as exc:
            raise StateError(f"The pod record {path} is incomplete ({exc}): move it away to start over.") from exc

    def save_pod(self, pod: PodRecord) -> None:
        """Write the pod record atomically."""
        write_json_atomic(self.dir / POD_FILE, pod.to_json())

    def load_pairing(self) -> dict | None:
        """The pairing under way (``address``, ``lot``, ``tid``, ``when``), or None."""
        try:
            data = json.loads((self.dir / PAIRING_FILE).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and {"address", "lot", "tid", "when"} <= set(data) else None

    def save_pairing(self, pairing: dict) -> None:
        """Remember a pairing under way (written atomically before the SetupPod goes out)."""
        write_json_atomic(self.dir / PAIRING_FILE, pairing)

    def clear_pairing(self) -> None:
        """Forget the pairing under way (idempotent)."""
        try:
            os.remove(self.dir / PAIRING_FILE)
        except FileNotFoundError:
            pass

    def archive_pod(self, pod: PodRecord) -> Path:
        """Move the pod record to ``pods/`` (after deactivation); returns the archived path."""
        archive = self.dir / "pods"
        archive.mkdir(exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = archive / f"{pod.address:08x}-{stamp}.json"
        write_json_atomic(target, pod.to_json())
        try:
            os.remove(self.dir / POD_FILE)
        except FileNotFoundError:
            pass
        _fsync_dir(self.dir)
        return target

    # -- history ---------------------------------------------------------------------------

    def history(self) -> list[dict]:
        """Every complete history record, oldest first (a truncated last line is skipped)."""
        return list(self._iter_history())

    def _iter_history(self) -> Iterator[dict]:
        try:
            with open(self.dir / HISTORY_FILE, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # a crash interrupted this append
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue
        except FileNotFoundError:
            return

    def append(self, record: dict) -> int:
        """Append one record (adds ``id`` and ``at``); returns its id. Durable when it returns."""
        path = self.dir / HISTORY_FILE
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if self._tail is not None and self._tail[0] == size:
            last_id = self._tail[1]  # nobody wrote since our last append: no need to read it all
        else:
            last_id = 0
            for rec in self._iter_history():
                last_id = max(last_id, int(rec.get("id", 0)))
        rec = {"id": last_id + 1, "at": now_iso(), **record}
        line = json.dumps(rec, sort_keys=True, default=_jsonable).encode() + b"\n"
        with open(path, "ab+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")  # isolate a line a crash left truncated
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
            self._tail = (f.tell(), rec["id"])
        return rec["id"]

    def command_status(self, record_id: int) -> str | None:
        """The current outcome of a command: its own status, or that of the last settle record."""
        status = None
        for rec in self._iter_history():
            if rec.get("id") == record_id:
                status = rec.get("status")
            elif rec.get("kind") == "settle" and rec.get("settles") == record_id:
                status = rec.get("status")
        return status

    def unsettled(self, address: int | None = None) -> list[dict]:
        """Commands still "unconfirmed" (no settle record yet), oldest first."""
        pending: dict[int, dict] = {}
        for rec in self._iter_history():
            if rec.get("kind") == "command" and rec.get("status") == UNCONFIRMED:
                if address is None or rec.get("pod") == f"{address:08x}":
                    pending[rec["id"]] = rec
            elif rec.get("kind") == "settle":
                pending.pop(int(rec.get("settles") or 0), None)
        return list(pending.values())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
