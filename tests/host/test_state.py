"""The handset's state directory: atomic pod record, append-only history, settling, locking."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from eros.nonce import NonceState
from handset.errors import StateError
from handset.state import CONFIRMED, NOT_RUN, UNCONFIRMED, PodRecord, StateStore, write_json_atomic


def _record() -> PodRecord:
    nonce = NonceState(42125, 170175)
    return PodRecord(address=0x1F07B1EE, lot=42125, tid=170175, nonce_words=list(nonce.to_words()), next_seq=2)


def test_pod_record_round_trips_with_the_nonce_state(tmp_path):
    store = StateStore(tmp_path)
    assert store.load_pod() is None
    rec = _record()
    nonce = NonceState.from_words(rec.lot, rec.tid, rec.nonce_words)
    nonce.advance()
    rec.nonce_words = list(nonce.to_words())
    rec.alerts["4"] = {"slot": 4, "trigger": 200}
    store.save_pod(rec)
    back = StateStore(tmp_path).load_pod()
    assert back == rec
    # The persisted nonce state continues the real PDM's sequence: second nonce 0x7f838e8a.
    assert NonceState.from_words(back.lot, back.tid, back.nonce_words).current() == 0x7F838E8A


def test_atomic_write_leaves_no_temp_file_and_replaces_whole(tmp_path):
    target = tmp_path / "x.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert sorted(os.listdir(tmp_path)) == ["x.json"]


def test_a_crash_during_save_keeps_the_old_record(tmp_path):
    """A process killed while writing (before the rename) leaves the previous pod.json intact."""
    store = StateStore(tmp_path)
    store.save_pod(_record())
    code = (
        "import os, handset.state as s\n"
        "real_replace = os.replace\n"
        "def die(*a): os._exit(9)\n"
        "os.replace = die\n"
        f"st = s.StateStore({str(tmp_path)!r}); rec = st.load_pod(); rec.next_seq = 14; st.save_pod(rec)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == 9
    assert StateStore(tmp_path).load_pod().next_seq == 2


def test_corrupt_pod_record_is_a_sentence(tmp_path):
    (tmp_path / "pod.json").write_text("{half")
    with pytest.raises(StateError, match="cannot be read"):
        StateStore(tmp_path).load_pod()


def test_history_is_append_only_and_settles(tmp_path):
    store = StateStore(tmp_path)
    a = store.append({"kind": "command", "command": "bolus", "pod": "1f07b1ee", "seq": 4, "status": UNCONFIRMED})
    b = store.append({"kind": "command", "command": "temp_basal", "pod": "1f07b1ee", "seq": 6, "status": UNCONFIRMED})
    assert (a, b) == (1, 2)
    assert [r["id"] for r in store.unsettled(0x1F07B1EE)] == [1, 2]
    store.append({"kind": "settle", "settles": 1, "status": CONFIRMED})
    store.append({"kind": "settle", "settles": 2, "status": NOT_RUN})
    assert store.unsettled(0x1F07B1EE) == []
    assert store.command_status(1) == CONFIRMED and store.command_status(2) == NOT_RUN
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["status"] == UNCONFIRMED  # never rewritten


def test_a_truncated_last_line_is_skipped_and_isolated(tmp_path):
    store = StateStore(tmp_path)
    store.append({"kind": "command", "command": "bolus", "status": UNCONFIRMED, "pod": "1f07b1ee"})
    with open(tmp_path / "history.jsonl", "ab") as f:
        f.write(b'{"id": 2, "kind": "comm')  # a crash in the middle of an append
    assert [r["id"] for r in store.history()] == [1]
    assert store.append({"kind": "event", "event": "x"}) == 2
    assert [r["id"] for r in store.history()] == [1, 2]


def test_history_ids_stay_unique_when_another_store_appended_between(tmp_path):
    mine, other = StateStore(tmp_path), StateStore(tmp_path)
    assert mine.append({"kind": "event", "event": "a"}) == 1
    assert mine.append({"kind": "event", "event": "b"}) == 2  # from what it knows: no re-read
    assert other.append({"kind": "event", "event": "c"}) == 3
    assert mine.append({"kind": "event", "event": "d"}) == 4  # the file grew: it reads it again
    assert [r["id"] for r in other.history()] == [1, 2, 3, 4]


def test_archive_moves_the_record_away(tmp_path):
    store = StateStore(tmp_path)
    rec = _record()
    store.save_pod(rec)
    path = store.archive_pod(rec)
    assert store.load_pod() is None
    assert json.loads(path.read_text())["address"] == rec.address


def test_two_handsets_cannot_share_a_state_directory(tmp_path):
    first = StateStore(tmp_path)
    first.lock()
    code = f"import handset.state as s; s.StateStore({str(tmp_path)!r}).lock()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "Another handset is using" in proc.stderr
    first.unlock()
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_default_state_dir_follows_xdg(tmp_path, monkeypatch):
    from handset.state import default_state_dir

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "handset"
