"""Inclusive time per frame from py-spy's raw output (``py-spy record -f raw``).

    .venv/bin/python bench/spy_totals.py out.txt [--top 40] [--match mahnwerk]

Each line of the raw output is a stack (frames joined by ``;``, outermost first) and its sample
count. A frame's inclusive share is the samples of the stacks it appears in (once per stack,
however often it recurs), over all samples.
"""

from __future__ import annotations

import argparse
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("raw")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only frames whose text contains this")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(args.raw) as handle:
        for line in handle:
            stack, _sep, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            samples = int(count)
            total += samples
            for frame in set(stack.split(";")):
                if args.match in frame:
                    inclusive[frame] += samples
    print(f"{total} samples")
    for frame, samples in inclusive.most_common(args.top):
        print(f"{100 * samples / total:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
