"""`handset decode` end to end: click's runner for the argument path, the installed `handset`
program in a subprocess for the stdin path and a real pty for the terminal tree, on real captured
messages (read from ../shared/omnipod) and on garbage.
"""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from eros.crc import crc16
from handset import render, spec
from handset.cli import main

HANDSET = Path(sys.executable).parent / "handset"


def _sample(captures: list[dict], count: int) -> list[dict]:
    """Spread picks over the whole corpus (both directions, many block types)."""
    step = max(1, len(captures) // count)
    return captures[::step][:count]


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HANDSET), "decode", *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_arguments_print_one_tree_per_message(captures: list[dict]) -> None:
    rows = _sample(captures, 25)
    result = CliRunner().invoke(main, ["decode", *(r["hex"] for r in rows)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for row in rows:
        msg = spec.parse_message(bytes.fromhex(row["hex"]))
        assert row["hex"] in out
        for b in msg["blocks"]:
            assert f"0x{b['type']:02x} {render.block_name(b['type'])}" in out
    assert out.count("message to/from") == len(rows)
    assert "│" not in out and "├" not in out  # not a terminal: plain indented text


def test_status_response_fields_have_names_and_units(captures: list[dict]) -> None:
    row = next(r for r in captures if r["hex"][12:14] == "1d" and r["hex"][14] in "12")  # basal or temp basal
    status = spec.parse_message(bytes.fromhex(row["hex"]))["blocks"][0]
    result = CliRunner().invoke(main, ["decode", row["hex"]])
    assert result.exit_code == 0
    pulses = status["pulses_delivered"]
    assert f"pulses_delivered: {pulses} pulses ({pulses // 20}.{pulses % 20 * 5:02d} U)" in result.stdout
    assert f"progress: {status['progress']} ({render.progress_name(status['progress'])})" in result.stdout
    assert render.delivery_name(status["delivery"]) in result.stdout


def test_json_lines_match_the_spec(captures: list[dict]) -> None:
    rows = _sample(captures, 30)
    result = CliRunner().invoke(main, ["decode", "--json", *(r["hex"] for r in rows)])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines):
        obj = json.loads(line)
        expected = render.jsonable(spec.parse_message(bytes.fromhex(row["hex"]), lenient=True))
        assert obj["input"] == row["hex"]
        assert {k: v for k, v in obj.items() if k != "input"} == expected
        assert obj["warnings"] == []  # real captures: every reserved bit is 0


def test_garbage_is_reported_and_the_run_goes_on(captures: list[dict]) -> None:
    good = captures[0]["hex"]
    bad_crc = good[:-1] + ("0" if good[-1] != "0" else "1")
    args = ["zz", good, "1f07", bad_crc, "abc", captures[1]["hex"]]
    result = CliRunner().invoke(main, ["decode", *args])
    assert result.exit_code == 1
    assert result.stdout.count("message to/from") == 2  # both good ones still decoded
    errors = result.stderr.splitlines()
    assert len(errors) == 4
    assert errors[0].startswith("error: argument 1 (zz): ") and "not hex" in errors[0]
    assert "argument 3" in errors[1] and "at least 10 bytes" in errors[1]
    assert "argument 4" in errors[2] and "CRC does not match" in errors[2]
    assert "odd count" in errors[3]
    assert "Traceback" not in result.output


def test_stdin_lines_comments_spaces_and_a_bad_line(captures: list[dict]) -> None:
    rows = _sample(captures, 200)
    lines = ["# a trace pasted from a log", ""]
    for i, row in enumerate(rows):
        text = row["hex"]
        if i % 3 == 0:  # bytes separated by spaces
            text = " ".join(text[j:j + 2] for j in range(0, len(text), 2))
        lines.append(f"  {text}  # {row['direction']}" if i % 5 == 0 else text)
    lines.insert(50, "not a message")
    result = _run("--json", stdin="\n".join(lines) + "\n")
    assert result.returncode == 1, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == len(rows) + 1
    failed = [o for o in objects if "error" in o]
    assert len(failed) == 1 and failed[0]["where"] == "line 51" and failed[0]["input"] == "not a message"
    decoded = [o for o in objects if "error" not in o]
    assert [o["input"] for o in decoded] == [r["hex"] for r in rows]


def test_stdin_all_good_exits_zero_with_plain_text(captures: list[dict]) -> None:
    rows = _sample(captures, 40)
    result = _run(stdin="\n".join(r["hex"] for r in rows) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("message to/from") == len(rows)
    assert result.stderr == ""
    assert "\x1b[" not in result.stdout  # no colour codes into a pipe


def test_empty_stdin_decodes_nothing() -> None:
    result = _run(stdin="# only a comment\n\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_body_option_decodes_bare_blocks(captures: list[dict]) -> None:
    row = next(r for r in captures if r["hex"][12:14] == "1a")
    body = spec.parse_message(bytes.fromhex(row["hex"]))["body"]
    result = CliRunner().invoke(main, ["decode", "--body", body.hex()])
    assert result.exit_code == 0
    assert "0x1a SetInsulinSchedule" in result.stdout and "checksum: 0x" in result.stdout
    assert "(ok)" in result.stdout.split("checksum:")[1].splitlines()[0]
    assert CliRunner().invoke(main, ["decode", "--body", row["hex"]]).exit_code == 1  # a whole message is no body


def test_help_documents_the_exit_status() -> None:
    result = CliRunner().invoke(main, ["decode", "--help"])
    assert result.exit_code == 0
    assert "Exit status: 0" in result.stdout and "--json" in result.stdout


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pty")
def test_terminal_output_is_a_tree(captures: list[dict]) -> None:
    row = next(r for r in captures if r["hex"][12:14] == "1a")
    leader, follower = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen([str(HANDSET), "decode", row["hex"]], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(timeout=30) == 0
    out = b"".join(chunks).decode("utf-8", "replace")
    assert "SetInsulinSchedule" in out
    assert "├──" in out or "└──" in out


# --- what a real pod may send: reserved bits set, error responses other than bad nonce ------------

def _with_crc(signed: bytes) -> str:
    return (signed + crc16(signed).to_bytes(2, "big")).hex()


def _pod_status(captures: list[dict]) -> bytes:
    """A real captured pod status message (1D alone), without its CRC."""
    row = next(r for r in captures if r["direction"] == "POD" and r["hex"][10:14] == "0a1d")
    return bytes.fromhex(row["hex"])[:-2]


def test_lenient_reading_equals_the_strict_one_on_real_captures(captures: list[dict]) -> None:
    for row in _sample(captures, 400):
        data = bytes.fromhex(row["hex"])
        strict, lenient = spec.parse_message(data), spec.parse_message(data, lenient=True)
        assert lenient.pop("warnings") == []
        for block in lenient["blocks"]:  # the only addition: an error's fault code and progress
            if block["type"] == 0x06 and block["code"] != 0x14:
                del block["fault_code"], block["progress"]
        assert lenient == strict


@pytest.mark.parametrize("byte, bit, field_mask, where", [
    (8, 0x80, 0xF0, "bits 31..28 of bytes 2..5"),   # status bytes 2..5 top bits
    (10, 0x04, 0x04, "bit 10 of bytes 2..5"),        # the bit some decoders fold into bolus remaining
    (12, 0x80, 0x80, "bit 31 of bytes 6..9"),        # the bit omnipy calls 'faulted'
])
def test_status_with_a_reserved_bit_is_decoded_with_the_bit_shown(captures: list[dict], byte: int, bit: int,
                                                                   field_mask: int, where: str) -> None:
    clean = _pod_status(captures)
    dirty = bytearray(clean)
    dirty[byte] |= bit
    text = _with_crc(bytes(dirty))
    # The pod's own codec and the strict reading refuse it ...
    from eros.errors import ProtocolError
    from eros.message import parse_message as pod_parse
    with pytest.raises(ProtocolError):
        pod_parse(bytes.fromhex(text))
    strict = CliRunner().invoke(main, ["decode", "--strict", text])
    assert strict.exit_code == 1 and "reserved bit" in strict.stderr and "Without --strict" in strict.stderr
    # ... the trace tool shows it: every field as in the clean message, plus the bit and a warning.
    result = CliRunner().invoke(main, ["decode", text])
    assert result.exit_code == 0, result.output
    assert f"warning: block 0x1d at byte 6 has reserved bits set: byte {byte} & 0x{bit:02x} ({where}" in result.stdout
    assert "reserved bits set (decoded as 0)" in result.stdout
    clean_fields = spec.parse_message(bytes.fromhex(_with_crc(clean)))["blocks"][0]
    for key, value in clean_fields.items():
        if key != "type":
            assert f"{key}: {render.field_text(clean_fields, key, value)}" in result.stdout
    obj = json.loads(CliRunner().invoke(main, ["decode", "--json", text]).stdout)
    block = obj["blocks"][0]
    (entry,) = block.pop("reserved_bits")
    assert (entry["byte"], entry["mask"], entry["set"]) == (byte, field_mask, bit) and entry["where"].startswith(where)
    assert block == clean_fields
    assert len(obj["warnings"]) == 1


def test_header_reserved_bit_and_a_beep_config_nibble(captures: list[dict]) -> None:
    dirty = bytearray(_pod_status(captures))
    dirty[4] |= 0x40
    obj = spec.parse_message(bytes.fromhex(_with_crc(bytes(dirty))), lenient=True)
    assert obj["seq"] == spec.parse_message(bytes.fromhex(_with_crc(_pod_status(captures))))["seq"]
    assert len(obj["warnings"]) == 1 and obj["warnings"][0].startswith("the header has a reserved bit set: byte 4 & 0x40")
    # A PDM BeepConfig (AAPS vector 1e0402404040) with the unused high nibble set.
    body = CliRunner().invoke(main, ["decode", "--body", "1e0412404040"])
    assert body.exit_code == 0 and "beep_type: 0x2" in body.stdout and "byte 2 & 0x10" in body.stdout
    # A corrupted message stays an error: leniency never skips the CRC.
    corrupt = bytes.fromhex(_with_crc(bytes(dirty)))
    corrupt = corrupt[:-1] + bytes([corrupt[-1] ^ 1])
    assert CliRunner().invoke(main, ["decode", corrupt.hex()]).exit_code == 1


@pytest.mark.parametrize("block, code, fault, progress", [
    ("0603070008", "0x07 (illegal parameter)", "0x00 (no fault)", "8 (running, above 50 U)"),   # OmniKit vector
    ("0603101308", "0x10 (unknown error)", "0x13 (message length too long)", "8 (running, above 50 U)"),  # AAPS
])
def test_error_response_other_than_bad_nonce_shows_fault_and_progress(vectors: list[dict], captures: list[dict],
                                                                      block: str, code: str, fault: str,
                                                                      progress: str) -> None:
    if block == "0603070008":  # taken from the reference vector itself (its 2 trailing bytes are a CRC)
        block = next(v["hex"] for v in vectors if v.get("test_name") == "testErrorResponse")[:10]
    header = _pod_status(captures)[:4] + bytes([0x08, 0x05])
    text = _with_crc(header + bytes.fromhex(block))
    result = CliRunner().invoke(main, ["decode", text])
    assert result.exit_code == 0, result.output
    assert f"code: {code}" in result.stdout
    assert f"fault_code: {fault}" in result.stdout
    assert f"progress: {progress}" in result.stdout
    obj = json.loads(CliRunner().invoke(main, ["decode", "--json", text]).stdout)["blocks"][0]
    assert (obj["fault_code"], obj["progress"]) == (int(fault[:4], 16), int(progress.split()[0]))


def test_bad_nonce_error_keeps_its_resync_word(captures: list[dict]) -> None:
    row = next(r for r in captures if r["hex"][12:16] == "0603" and r["hex"][16:18] == "14")
    obj = json.loads(CliRunner().invoke(main, ["decode", "--json", row["hex"]]).stdout)["blocks"][0]
    assert "fault_code" not in obj and "progress" not in obj
    assert "(nonce resync word)" in CliRunner().invoke(main, ["decode", row["hex"]]).stdout
