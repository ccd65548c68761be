# pod/linkfaults.py - faults armed by the bench for the next Eros messages (SPEC.md section 6,
# op "inject"). The scheduler asks take() once per received message, before the pod sees it;
# with nothing armed that is one attribute test, so the message path stays cheap on a Pico.

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

LOSE = "lose"          # carried out, its reply never sent
DROP = "drop"          # not carried out, no reply (as if the radio never heard it)
DELAY = "delay"        # carried out, its reply sent after `ms` real milliseconds
CORRUPT = "corrupt"    # carried out, its reply damaged: a bit of the CRC, or the frame truncated
KINDS = (LOSE, DROP, DELAY, CORRUPT)
HOW_CRC = "crc"
HOW_TRUNCATE = "truncate"
MAX_ARMED = const(4)  # the bench info lists them, within its frame

_KIND = const(0)
_COUNT = const(1)
_BLOCK = const(2)
_ARG = const(3)


def has_block(message, block_type):
    """True when the Eros message (address, seq/length, blocks, CRC) holds a block of that type."""
    i = 6
    end = len(message) - 2
    while i + 1 < end:
        if message[i] == block_type:
            return True
        i += 2 + message[i + 1]
    return False


def corrupt(reply, how):
    """The reply with its CRC's last bit flipped, or cut to half its length."""
    if how == HOW_TRUNCATE:
        return reply[:len(reply) // 2]
    return reply[:-1] + bytes([reply[-1] ^ 0x01])


class LinkFaults:
    """The armed faults, oldest first: [kind, messages left, block type or -1, ms or how]."""

    def __init__(self):
        self.armed = []
        self.applied = 0  # faults carried out since start-up

    def arm(self, kind, count, block, arg):
        if len(self.armed) >= MAX_ARMED:
            raise ValueError("%d faults are armed already; clear them with {\"op\": \"inject\", \"fault\": \"none\"}"
                             % MAX_ARMED)
        self.armed.append([kind, count, block, arg])

    def clear(self):
        self.armed = []

    def take(self, message):
        """The (kind, arg) that applies to this received message, or None; counts it down."""
        for f in self.armed:
            if f[_BLOCK] < 0 or has_block(message, f[_BLOCK]):
                f[_COUNT] -= 1
                if f[_COUNT] <= 0:
                    self.armed.remove(f)
                self.applied += 1
                return f[_KIND], f[_ARG]
        return None

    def describe(self):
        out = []
        for kind, count, block, arg in self.armed:
            d = {"fault": kind, "count": count}
            if block >= 0:
                d["block"] = block
            if kind == DELAY:
                d["ms"] = arg
            elif kind == CORRUPT:
                d["how"] = arg
            out.append(d)
        return out
