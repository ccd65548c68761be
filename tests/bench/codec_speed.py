# codec_speed.py - run by the real MicroPython (benchmark 4): parse + build of every capture.
#
# usage: MICROPYPATH=protocol micropython tests/bench/codec_speed.py CAPTURES_JSONL ROUNDS
# Prints one JSON line: messages, rounds, best and all round times in µs, and how many round-tripped.
import binascii
import json
import sys
import time

from eros.message import build_message, parse_message

msgs = []
with open(sys.argv[1]) as f:
    for line in f:
        if line.strip():
            msgs.append(binascii.unhexlify(json.loads(line)["hex"]))
rounds = int(sys.argv[2])
times = []
same = 0
for r in range(rounds):
    t = time.ticks_us()
    same = 0
    for data in msgs:
        m = parse_message(data)
        if build_message(m["address"], m["seq"], m["blocks"], m["followup"]) == data:
            same += 1
    times.append(time.ticks_diff(time.ticks_us(), t))
print(json.dumps({"messages": len(msgs), "rounds": rounds, "us": times, "round_tripped": same}))
