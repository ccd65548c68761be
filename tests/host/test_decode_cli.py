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
        expected = render.jsonable(spec.parse_message(bytes.fromhex(row["hex"])))
        assert obj["input"] == row["hex"]
        assert {k: v for k, v in obj.items() if k != "input"} == expected


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
