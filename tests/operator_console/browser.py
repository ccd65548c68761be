"""Headless Chromium for the page tests: Debian's `chromium` and `chromium-driver`, driven by
Selenium. When they are missing, `chromium_driver()` installs them with apt-get (as root, after an
`apt-get update`); where that cannot be done the test skips with one line saying why."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PACKAGES = ("chromium", "chromium-driver")


def _binaries() -> tuple[str | None, str | None]:
    return shutil.which("chromium"), shutil.which("chromedriver")


def ensure_chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installing the Debian packages when they are missing."""
    browser, driver = _binaries()
    if browser and driver:
        return browser, driver
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("headless Chromium is not installed and cannot be (no apt-get, or not root): "
                    "install the Debian packages chromium and chromium-driver to run the page test")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"headless Chromium could not be installed ({' '.join(cmd)} failed: "
                        f"{done.stderr.strip().splitlines()[-1:] or done.returncode})")
    browser, driver = _binaries()
    if not (browser and driver):
        pytest.skip("headless Chromium could not be installed: chromium or chromedriver is still missing")
    return browser, driver


def chromium_driver(width: int = 1280, height: int = 860) -> webdriver.Chrome:
    """A headless Chromium session (the caller quits it)."""
    browser, driver = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
