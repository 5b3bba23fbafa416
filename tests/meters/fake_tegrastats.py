"""Stands in for the `tegrastats` binary: prints a file's lines, one per --interval ms, forever."""

import argparse
import itertools
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("lines")
parser.add_argument("--interval", type=int, required=True)
args = parser.parse_args()
with open(args.lines, encoding="utf-8") as handle:
    lines = [line.rstrip("\n") for line in handle if line.strip()]
for line in itertools.cycle(lines):
    print(line, flush=True)
    time.sleep(args.interval / 1000)
    if not sys.stdout:
        break
