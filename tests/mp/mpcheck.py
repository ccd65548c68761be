# tests/mp/mpcheck.py - the tiny assertion counter of the check scripts run under MicroPython.
# The scripts print "OK <n> checks" (read by testenv.run_check_script) or exit 1 after the failures.
import sys

_results = [0, 0]  # checks, failures


def check(ok, what):
    _results[0] += 1
    if not ok:
        _results[1] += 1
        print("FAIL", what)


def finish():
    if _results[1]:
        print("FAILED %d of %d checks" % (_results[1], _results[0]))
        sys.exit(1)
    print("OK %d checks" % _results[0])
