"""The bench's reply encoding and duplicate-key scan (firmware/pod/bench.py), as pure functions
under CPython: a long error is shortened, never cut; an over-long success becomes an error."""
from __future__ import annotations

import json

import pytest

from pod.bench import REPLY_MAX, duplicate_key, encode_reply


@pytest.mark.parametrize("error", ["x" * 5000, "\u00e9" * 3000, "\u2603" * 2000, "a" * (REPLY_MAX - 30)])
def test_a_long_error_is_shortened_to_valid_json_under_the_limit(error: str) -> None:
    out = encode_reply({"ok": False, "error": error}, 12345)
    assert len(out) < REPLY_MAX
    reply = json.loads(out)
    assert reply["id"] == 12345 and reply["ok"] is False
    assert reply["error"] == error or reply["error"].endswith(" (shortened)")


def test_a_success_too_long_becomes_an_error_saying_so() -> None:
    reply = json.loads(encode_reply({"ok": True, "blob": "y" * 2000}, 3, "beeps"))
    assert reply == {"ok": False, "id": 3, "error": reply["error"]}
    assert "over the frame limit" in reply["error"] and '"beeps"' in reply["error"]


@pytest.mark.parametrize("text, dup", [
    ('{"op": "info"}', None),
    ('{"op": "info", "op": "reset"}', "op"),
    ('{"a": {"b": 1}, "b": 2}', None),                     # the same key in two objects is fine
    ('{"a": [{"k": 1}, {"k": 2}]}', None),
    ('{"a": {"k": 1, "k": 2}}', "k"),
    ('{"s": "\\"op\\": 1", "op": "info"}', None),          # quotes and colons inside strings
    ('{"\\u006fp": "info", "op": "reset"}', "op"),
    ('{"\u00e9": 1, "\u00e9": 2}', "\u00e9"),
])
def test_duplicate_keys_are_found_in_the_request_bytes(text: str, dup: str | None) -> None:
    assert duplicate_key(text.encode()) == dup
