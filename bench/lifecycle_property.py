"""The lifecycle property (tests/test_lifecycle_property.py) with many more examples than CI runs.

    .venv/bin/python bench/lifecycle_property.py [--examples 1000] [--steps 50] [--seed N]
                                                 [--postgres URL]

Runs the stateful hypothesis test with ``--examples`` random sequences of up to ``--steps``
steps each (CI: 12 of 30), on the in-memory SQLite test database or, with ``--postgres``, on a
PostgreSQL server (its ``test_…`` database is made and dropped by pytest-django). Prints the
examples, the steps, the time, and how many sequences reached each state and event (so that one
can see the search went deep: escalations, handovers, cycles), then pytest's verdict. A failing
sequence is printed in full by hypothesis; make it an ordinary test in tests/test_lifecycle.py.
Figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None,
                        help="hypothesis seed (default: random); print it to replay a run")
    parser.add_argument("--postgres", default="",
                        help="e.g. postgres://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    os.environ["MAHNWERK_PROPERTY_EXAMPLES"] = str(args.examples)
    os.environ["MAHNWERK_PROPERTY_STEPS"] = str(args.steps)
    os.environ["MAHNWERK_PROPERTY_RANDOM"] = "1"  # new sequences (CI runs fixed ones)
    if args.postgres:
        os.environ["DATABASE_URL"] = args.postgres
    else:
        os.environ.pop("DATABASE_URL", None)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))

    import pytest

    pytest_args = ["-q", "-p", "no:cacheprovider", "tests/test_lifecycle_property.py"]
    if args.seed is not None:
        pytest_args.append(f"--hypothesis-seed={args.seed}")
    started = time.perf_counter()
    code = pytest.main(pytest_args)
    seconds = time.perf_counter() - started

    from tests import test_lifecycle_property as lifecycle

    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"\nlifecycle property on {database}: {args.examples} examples of up to "
          f"{args.steps} steps in {seconds:.0f} s ({seconds / max(1, args.examples):.2f} s each)")
    print("sequences that reached:")
    for what, times in sorted(lifecycle.REACHED.items(), key=lambda item: -item[1]):
        print(f"  {times:6d}  {what}")
    print("verdict:", "every rule held" if code == 0 else f"a rule broke (pytest exit {code})")
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
