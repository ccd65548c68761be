"""Errors of the handset library: each carries a sentence for a person and a process exit code.

The CLI prints ``str(error)`` (a full sentence that says what to do) and exits with
``error.exit_code``. Exit codes, one per kind of failure:

====  ======================  =====================================================================
code  class                   meaning
====  ======================  =====================================================================
1     HandsetError            any other handset failure (base class)
2     InvalidInput            the request was refused before anything was sent (nothing changed)
3     PodUnreachable          the link could not be opened, or the pod never answered
4     PodFaulted              the pod reports a fault (``.fault_code``, ``.fault_name``)
5     NoPodPaired             the command needs a paired pod and the state directory has none
6     NonceResyncFailed       the pod rejected the nonce again after one resynchronisation
7     Unconfirmed             the command was sent but no reply came; a status read settles it
8     PodRejected             the pod answered with an error response (``.code``)
9     StateError              the state directory is unreadable, corrupt or in use by another handset
10    BadReply                the pod's reply does not fit the request (wrong kind of block, values)
11    PodAlreadyPaired        activation refused: the state directory already holds an active pod
12    ActivationFailed        the pod cannot finish its activation (time exceeded, progress 14; inactive)
====  ======================  =====================================================================
"""
from __future__ import annotations

# Fault names for the codes this emulator can produce (PROTOCOL-NOTES §2.18); others print in hex.
FAULT_NAMES: dict[int, str] = {
    0x00: "no fault",
    0x12: "reset due to low voltage",
    0x13: "message length too long",
    0x14: "occlusion",
    0x18: "reservoir empty",
    0x1C: "maximum pod life (80 hours) exceeded",
    0x28: "bad argument or state in pod setup",
    0x31: "command received in the wrong pod state",
    0x33: "connected pod command timeout",
    0x37: "bad beeper value",
    0x5C: "prime open count too low",
    0x6A: "occlusion check above threshold",
    0x8F: "insulin schedule parse failure",
}


def fault_name(code: int) -> str:
    """A readable name for a pod fault code, e.g. ``fault_name(0x14) == 'occlusion'``."""
    if code in FAULT_NAMES:
        return FAULT_NAMES[code]
    if 0x29 <= code <= 0x30:
        return f"alert {code - 0x29} auto-off timeout"
    if 0x60 <= code <= 0x6A:
        return f"occlusion check failure (0x{code:02x})"
    if 0x80 <= code <= 0x8B:
        return f"delivery under/over infusion (0x{code:02x})"
    return f"fault 0x{code:02x}"


class SentenceError(Exception):
    """An error told to a person: ``str(error)`` is a full sentence that says what to do, and
    ``exit_code`` the process exit code. A subclass names its code in its header,
    ``class InvalidInput(HandsetError, exit_code=2)``; one that names none keeps its base's.
    The base of the handset's errors and of podctl's.

    :param sentence: what happened and what to do, as a full sentence.
    """

    exit_code = 1

    def __init_subclass__(cls, exit_code: int | None = None) -> None:
        super().__init_subclass__()
        if exit_code is not None:
            cls.exit_code = exit_code

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence

    def __str__(self) -> str:
        return self.sentence


class HandsetError(SentenceError, exit_code=1):
    """Base of every error the handset reports to a person.

    :param sentence: what happened and what to do, as a full sentence.
    """


class InvalidInput(HandsetError, exit_code=2):
    """The request is out of range or malformed; nothing was sent and nothing changed."""


class PodUnreachable(HandsetError, exit_code=3):
    """The link could not be opened, or the pod did not answer after every retry."""


class PodFaulted(HandsetError, exit_code=4):
    """The pod reports a fault; insulin delivery has stopped and the pod must be replaced.

    :param fault_code: the pod's fault event code.
    :param details: the detailed-status dict the pod returned, when there was one.
    """

    def __init__(self, fault_code: int, details: dict | None = None) -> None:
        self.fault_code = fault_code
        self.fault_name = fault_name(fault_code)
        self.details = details or {}
        super().__init__(
            f"The pod has faulted ({self.fault_name}, code 0x{fault_code:02x}) and stopped delivering insulin: "
            "deactivate it with `handset deactivate` and activate a new pod."
        )


class NoPodPaired(HandsetError, exit_code=5):
    """The state directory holds no active pod."""


class NonceResyncFailed(HandsetError, exit_code=6):
    """The pod refused the nonce twice, even after a resynchronisation."""


class Unconfirmed(HandsetError, exit_code=7):
    """The command went out but its reply never came; the pod may or may not have run it.

    :param command: the history record id of the unconfirmed command.
    """

    def __init__(self, sentence: str, record_id: int | None = None) -> None:
        super().__init__(sentence)
        self.record_id = record_id


class PodRejected(HandsetError, exit_code=8):
    """The pod answered with an error response (not a bad nonce).

    :param code: the error code of the 06 block.
    """

    def __init__(self, sentence: str, code: int) -> None:
        super().__init__(sentence)
        self.code = code


class StateError(HandsetError, exit_code=9):
    """The state directory cannot be used."""


class BadReply(HandsetError, exit_code=10):
    """The pod answered with something that does not fit the request."""


class PodAlreadyPaired(HandsetError, exit_code=11):
    """Activation refused because a pod is still active in this state directory."""


class ActivationFailed(HandsetError, exit_code=12):
    """The pod cannot be activated any more (activation time exceeded, progress 14, or inactive)."""
