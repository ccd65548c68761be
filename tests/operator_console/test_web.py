"""`podctl web` in a real browser (headless Chromium) against the real firmware: a bolus started
from the handset shows its progress on the page, and the page's buttons fault the pod and arm a
message fault. Set PODCTL_SCREENSHOT=path to keep the screenshot taken mid-bolus (docs/)."""
from __future__ import annotations

import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from .browser import chromium_driver
from .conftest import BIN

SPEED = 10  # the pod's clock runs 10x: a 3 U bolus (60 pulses, 2 s each) takes 12 s


@pytest.fixture
def page_server(operator_pod):
    """(pod, URL of `podctl web` serving it); stopped afterwards."""
    pod = operator_pod(clock="real", extra_args=["--speed", str(SPEED)])
    proc = subprocess.Popen([str(BIN / "podctl"), "web", "--listen", "127.0.0.1:0"], env=pod.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    try:
        first = lines.get(timeout=30)  # waits for the server's one line, not a fixed time
        assert "http://" in first, first
        url = first.split("at ", 1)[1].split(" ", 1)[0]
        yield pod, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def test_page_shows_bolus_progress_and_its_fault_button_faults_the_pod(page_server, tmp_path: Path) -> None:
    pod, url = page_server
    r = pod.handset("activate")
    assert r.returncode == 0, r.stdout + r.stderr
    driver = chromium_driver()
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60, poll_frequency=0.1)
        wait.until(lambda d: _text(d, "conn").startswith("live"))
        assert _text(driver, "basal").endswith("U/h")

        bolus = subprocess.Popen([str(BIN / "handset"), "bolus", "3"], env=pod.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            def mid_bolus(d) -> bool:
                el = d.find_element(By.ID, "bolus")
                left, total = el.get_attribute("data-left"), el.get_attribute("data-total")
                return bool(left and total) and 0 < int(left) < int(total) and int(total) == 60
            wait.until(mid_bolus)
            assert " of 3.00 U" in _text(driver, "bolus")
            shot = tmp_path / "podctl-web.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("PODCTL_SCREENSHOT"):  # for the README: half-way through the bolus
                wait.until(lambda d: int(d.find_element(By.ID, "bolus").get_attribute("data-left") or 60) <= 30)
                driver.save_screenshot(os.environ["PODCTL_SCREENSHOT"])
            out, _ = bolus.communicate(timeout=120)
            assert bolus.returncode == 0, out
        finally:
            if bolus.poll() is None:
                bolus.kill()
        wait.until(lambda d: _text(d, "bolus").startswith("done: 3.00 U"))

        driver.find_element(By.ID, "btn-lose").click()
        wait.until(lambda d: "lose" in _text(d, "armed"))
        assert pod.info()["armed"] == [{"fault": "lose", "count": 1}]

        driver.find_element(By.ID, "btn-fault").click()  # the selected code: 0x14 occlusion
        wait.until(lambda d: _text(d, "fault-banner") == "FAULT 0x14")
        info = pod.info()["pod"]
        assert (info["fault"], info["progress"]) == (0x14, 13)
        assert "13" in _text(driver, "progress-text")
    finally:
        driver.quit()
    status = pod.handset("status")
    assert status.returncode == 4, status.stdout + status.stderr
