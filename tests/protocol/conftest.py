"""Codec test helpers: a session-wide collector of conformance counts, printed at the end of the run.

Use the `record` fixture (or `record_counts(config, ...)`) from any test: record("eros", "vectors
checked", 136, 136). The counts live on the pytest config object (attribute `_eros_codec_counts`),
so tests outside this folder (tests/mp) can add to the same list.
"""
from __future__ import annotations

from typing import Callable

import pytest


COUNTS_ATTR = "_eros_codec_counts"
PRINTED_ATTR = "_eros_codec_counts_printed"


def record_counts(config: pytest.Config, implementation: str, what: str, passed: int, total: int) -> None:
    """Add one summary line: `implementation: passed/total what`."""
    counts = getattr(config, COUNTS_ATTR, None)
    if counts is None:
        counts = []
        setattr(config, COUNTS_ATTR, counts)
    counts.append((implementation, what, passed, total))


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[str, str, int, int], None]:
    """record(implementation, what, passed, total) -> adds a line to the end-of-run summary."""
    def _record(implementation: str, what: str, passed: int, total: int) -> None:
        record_counts(request.config, implementation, what, passed, total)
    return _record


def print_counts(terminalreporter, config: pytest.Config) -> None:
    """Print the collected counts once (both tests/protocol and tests/mp conftests call this)."""
    counts = getattr(config, COUNTS_ATTR, None)
    if not counts or getattr(config, PRINTED_ATTR, False):
        return
    setattr(config, PRINTED_ATTR, True)
    terminalreporter.section("codec conformance counts")
    for implementation, what, passed, total in counts:
        terminalreporter.write_line(f"{implementation}: {passed}/{total} {what}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 (pytest hook signature)
    print_counts(terminalreporter, config)
