"""Issue 9, "output for people and programs" and "status and diagnostics": the `handset` CLI as a
real process against the REAL firmware over TCP (virtual clock), stdout and stderr read apart.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from handset import errors
from handset_rig import bench, handset, one_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pod(firmware_tcp, tmp_path):
    state = tmp_path / "hs"
    result = handset(["activate", "--json"], state, firmware_tcp.url)
    assert result.returncode == 0, result.stderr
    assert one_json(result)["activated"] is True
    assert "Activating" in result.stderr  # the progress went to stderr
    return firmware_tcp.url, state


def test_every_pod_command_prints_exactly_one_json_document(pod):
    url, state = pod
    bolus = handset(["bolus", "0.5", "--json"], state, url)
    assert bolus.returncode == 0 and "Bolus:" in bolus.stderr  # the progress lines, on stderr
    assert one_json(bolus)["delivered_pulses"] == 10
    calculated = handset(["bolus", "--carbs", "5", "--yes", "--json"], state, url)
    assert "Bolus calculator" in calculated.stderr and one_json(calculated)["requested_pulses"] > 0
    for args, key in ((["temp-basal", "0.5", "1h"], "rate_pph"), (["cancel-temp"], "cancelled"),
                      (["suspend", "--for", "30m"], "suspended"), (["resume"], "resumed"),
                      (["alerts"], "alerts"), (["basal", "use", "default"], "running"),
                      (["history"], None), (["settings", "set", "max_bolus", "8"], "setting"),
                      (["deactivate", "--yes"], "deactivated")):
        result = handset([*args, "--json"], state, url)
        assert result.returncode == 0, (args, result.stderr)
        doc = one_json(result)
        assert key is None or key in doc, (args, doc)


def test_a_refusal_names_the_pods_code_and_what_to_do(pod):
    url, state = pod
    assert handset(["bolus", "5", "--no-wait"], state, url).returncode == 0
    result = handset(["bolus", "1"], state, url)
    assert result.returncode == 8
    assert "error 0x0c" in result.stderr and "wait for the running delivery to end or cancel it" in result.stderr


def test_prompts_without_a_terminal_say_which_flag_answers_them(pod):
    url, state = pod
    for args in (["bolus", "--carbs", "30"], ["deactivate"]):
        result = handset(args, state, url, stdin="")
        assert result.returncode == 2, result.stderr
        assert "no terminal" in result.stderr and "--yes" in result.stderr
        assert "Unexpected error" not in result.stderr
    assert handset(["bolus", "--carbs", "30", "--yes"], state, url).returncode == 0


def test_cancel_temp_without_a_temp_basal_sends_nothing(pod):
    url, state = pod
    result = handset(["cancel-temp"], state, url)
    assert result.returncode == 2 and "No temp basal is running: nothing was sent." in result.stderr


def test_host_and_port_without_a_scheme_mean_a_socket(pod):
    url, state = pod
    result = handset(["--port", url.removeprefix("socket://"), "status"], state, None)
    assert result.returncode == 0, result.stderr


def test_status_shows_temp_rate_time_left_bolus_parts_alerts_and_reservoir(pod):
    url, state = pod
    assert handset(["temp-basal", "0.5", "2h"], state, url).returncode == 0
    assert handset(["bolus", "0.5", "--extended", "1", "--over", "1h", "--no-wait"], state, url).returncode == 0
    bench(url, "advance", ms=30 * 60_000)
    text = handset(["status"], state, url).stdout
    assert re.search(r"temp basal\s+0\.50 U/h, 1h30m left of 2h", text), text
    # the extended pulses are spread evenly over the hour: about half of them by now, as the pod says
    assert re.search(r"bolus in progress\s+0\.9[05] U of 1\.50 U delivered \(immediate 0\.50 of 0\.50 U, "
                     r"extended 0\.4[05] of 1\.00 U\)", text), text
    assert re.search(r"reservoir\s+more than 50 U", text) and re.search(r"alerts\s+none", text)


def test_a_faulted_pods_status_shows_the_fault(pod):
    url, state = pod
    bench(url, "occlude", on=True)
    assert handset(["bolus", "5", "--no-wait"], state, url).returncode == 0
    bench(url, "advance", ms=10 * 60_000)
    result = handset(["status"], state, url)
    assert result.returncode == 4
    for words in ("The pod has faulted", "occlusion (code 0x14)", "at pod age", "insulin delivered",
                  "progress before the fault"):
        assert words in result.stdout, result.stdout
    doc = one_json(handset(["status", "--json"], state, url))
    assert doc["ok"] is False and doc["fault_code"] == 0x14 and "fault_minutes" in doc["details"]
    detailed = one_json(handset(["diag", "detailed", "--json"], state, url))
    assert detailed["fault_code"] == 0x14 and detailed["fault_name"] == "occlusion"


def test_diagnostics(pod):
    url, state = pod
    assert handset(["bolus", "0.25"], state, url).returncode == 0
    log = one_json(handset(["diag", "pulse-log", "--json"], state, url))
    kinds = [e["kind"] for e in log["entries"]]
    assert kinds[-5:] == ["bolus"] * 5 or kinds.count("bolus") >= 5
    assert all(e["moved"] for e in log["entries"])
    table = handset(["diag", "pulse-log"], state, url).stdout
    assert "Pulse log" in table and "bolus" in table
    when = one_json(handset(["diag", "activation-time", "--json"], state, url))
    assert 1 <= when["month"] <= 12 and when["fault_code"] == 0
    assert re.search(r"set up at\s+20\d\d-", handset(["diag", "activation-time"], state, url).stdout)
    beeps_before = bench(url, "beeps")["count"]
    assert handset(["diag", "beeps", "4"], state, url).returncode == 0
    after = bench(url, "beeps")
    assert after["count"] == beeps_before + 1 and after["beeps"][-1][1] == 4
    assert handset(["diag", "beeps", "9"], state, url).returncode == 2
    assert "low reservoir" in handset(["diag", "alerts"], state, url).stdout


def test_help_summaries_are_whole_sentences(tmp_path):
    text = handset(["--help"], tmp_path, None).stdout
    text = text[text.index("Commands:"):]
    assert "Deliver a bolus of AMOUNT units (for example 2.35) with a live progress bar; Ctrl-C offers to" in \
        " ".join(text.split())
    assert "(e.g." not in text and "..." not in text


def test_the_readme_lists_every_exit_code():
    readme = (ROOT / "README.md").read_text()
    codes = sorted({cls.exit_code for cls in vars(errors).values()
                    if isinstance(cls, type) and issubclass(cls, errors.HandsetError)})
    section = readme[readme.index("Exit codes"):]
    for code in codes:
        assert f"| {code} |" in section, f"exit code {code} is not in the README's table"
