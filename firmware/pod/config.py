# pod/config.py - defaults and limits of the emulated pod's command line (units in the names).

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = const(7410)
DEFAULT_STATE_DIR = "./var/pod"
# Lot and TID of the emulated pod (those of a real pod, so that nonces match real captures).
DEFAULT_LOT = const(42125)
DEFAULT_TID = const(170175)
DEFAULT_FILL_UNITS = "200"

PULSES_PER_UNIT = const(20)          # 0.05 U per pulse
MIN_FILL_PULSES = const(20)          # 1 U
MAX_FILL_PULSES = const(4000)        # 200 U, the reservoir's capacity
MIN_OCCLUSION_PULSES = const(60)     # 3 U missed insulin: fault 0x14 (pod/occlusion.py)
MAX_OCCLUSION_PULSES = const(100)    # 5 U
SIM_SAVE_MS = const(60000)           # real clock: sim.json (the clock) saved at least this often
SIM_SAVE_CLEAR_MS = const(300)       # ... when the next pulse is at least this far away
GC_IDLE_FREE_BYTES = const(40960)    # real clock: collect between steps once less heap is free
GC_IDLE_CLEAR_MS = const(100)        # ... when the next step is at least this far away
MAX_LOT = const(0xFFFFFFFF)
MAX_TID = const(0xFFFFFFFF)
MAX_SPEED = const(100000)            # real clock speed-up factor
MAX_ADVANCE_MS = const(30 * 24 * 3600 * 1000)  # one bench advance: at most 30 days

LINK_CHUNK = const(512)              # bytes read from a socket or tty at a time
MAX_SLEEP_MS = const(1000)           # the real-clock ticker re-reads the clock at least this often
OUTBOX_MAX = const(64)               # frames waiting for the link; the oldest log lines go first
