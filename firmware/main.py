# firmware/main.py - entry point of the emulated pod: `micropython firmware/main.py [options]`.
# On a Pico the same file runs at boot (the pod package and eros are installed next to it).
import sys

if sys.platform == "rp2":
    # The pod switches Ctrl-C off (0x03 is data in its frames), so the REPL - mpremote, `make
    # deploy` - gets in only here: a Ctrl-C within this window after a reset stops main.py.
    import time

    print("pod: starting; Ctrl-C within 1 s for the REPL")
    time.sleep_ms(1000)
else:
    # sys.path[0] is this script's folder. Source folders go last, so that MICROPYPATH (for
    # example build/mpy) wins when it is set; ".frozen" holds asyncio and must stay reachable.
    _here = sys.path.pop(0)
    if ".frozen" not in sys.path:
        sys.path.append(".frozen")
    sys.path.append(_here)
    sys.path.append(_here + "/../protocol")

# The biggest modules first: compiling them from source needs the most heap, and the heap is
# emptiest now (a 192 KB heap runs the firmware from source too, not only from .mpy).
import pod.core  # noqa: E402,F401
from pod.app import main  # noqa: E402

main(sys.argv[1:])
