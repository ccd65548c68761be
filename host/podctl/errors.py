"""Errors of podctl: each a sentence for a person, with a process exit code (as the handset's:
handset.errors.SentenceError is the base of both).

====  ====================  ==================================================================
code  class                 meaning
====  ====================  ==================================================================
1     PodctlError           any other failure
2     BadInput              the command line is wrong; nothing was sent
3     Unreachable           the bench port cannot be opened, or the pod did not answer in time
8     Refused               the pod's bench refused the operation (its sentence is shown)
====  ====================  ==================================================================
"""
from __future__ import annotations

from handset.errors import SentenceError


class PodctlError(SentenceError, exit_code=1):
    """Base of every podctl error: ``str(error)`` is a sentence that says what to do."""


class BadInput(PodctlError, exit_code=2):
    """A malformed argument; nothing was sent."""


class Unreachable(PodctlError, exit_code=3):
    """No bench at the address, or no answer in time."""


class Refused(PodctlError, exit_code=8):
    """The bench answered ``{"ok": false, "error": ...}``."""
