"""The ``mahnwerk`` console script: every Django management command plus the project's own.

Command names are written with dashes on the command line (``mahnwerk demo-data``) and live
in modules with underscores (``demo_data.py``), as Python requires.
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mahnwerk.settings")
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    argv[0] = "mahnwerk"
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
