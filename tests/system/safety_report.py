"""Measured safety figures of a test run (occlusion times, power cuts survived, link faults),
printed once at the end of the run.

Tests record figures with `record(section, name, text)` through the `safety_report` fixture; the
fixture registers a small pytest plugin whose pytest_terminal_summary hook prints them, so no
conftest.py has to change. Under pytest-xdist each worker keeps its own figures (not printed).
"""
from __future__ import annotations

from typing import Iterator

import pytest


class SafetyReport:
    """Figures in insertion order, grouped by section."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, str]] = {}

    def record(self, section: str, name: str, text: str) -> None:
        self.sections.setdefault(section, {})[name] = text

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
        if not self.sections:
            return
        terminalreporter.section("safety figures (measured)")
        for section, figures in self.sections.items():
            terminalreporter.write_line(section + ":")
            for name, text in figures.items():
                terminalreporter.write_line(f"  {name}: {text}")


_PLUGIN_NAME = "eros-safety-report"


@pytest.fixture(scope="session")
def safety_report(request: pytest.FixtureRequest) -> Iterator[SafetyReport]:
    """The run's SafetyReport, registered as a plugin so that it prints at the end."""
    manager = request.config.pluginmanager
    report = manager.get_plugin(_PLUGIN_NAME)
    if report is None:
        report = SafetyReport()
        manager.register(report, _PLUGIN_NAME)
    yield report


def minutes_text(ms: int) -> str:
    """A duration in ms as 'H h MM min SS s (N ms)' for the report."""
    s = ms // 1000
    return f"{s // 3600} h {s % 3600 // 60:02d} min {s % 60:02d} s ({ms} ms)"
