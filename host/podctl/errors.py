"""Errors of podctl: each a sentence for a person, with a process exit code.

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


class PodctlError(Exception):
    """Base of every podctl error: ``str(error)`` is a sentence that says what to do."""

    exit_code = 1


class BadInput(PodctlError):
    """A malformed argument; nothing was sent."""

    exit_code = 2


class Unreachable(PodctlError):
    """No bench at the address, or no answer in time."""

    exit_code = 3


class Refused(PodctlError):
    """The bench answered ``{"ok": false, "error": ...}``."""

    exit_code = 8
