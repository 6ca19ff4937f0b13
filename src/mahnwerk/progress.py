"""The progress bar of a long command: tqdm on stderr, moved by a service's ``progress(done,
total)`` callback, so that the services report progress without knowing about terminals.

    with ProgressBar(enabled=not no_progress, desc=_("executing"), unit=_("letters")) as bar:
        services.execute_run(run=run, actor=actor, progress=bar)

Off with ``--no-progress`` (``enabled=False``), and when stderr is no terminal (as tqdm's own
``disable=None`` would), so logs and pipes get no bar. tqdm is imported only for a bar that is
shown: importing it (tqdm.cli with it, 0.01 s) is no cost of a command in a script.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class ProgressBar:
    def __init__(self, *, enabled: bool = True, total: int = 0, **options: Any) -> None:
        self.bar = None
        isatty = getattr(sys.stderr, "isatty", None)
        # The test tqdm makes for disable=None, made here first: without a terminal, no tqdm.
        if enabled and (isatty is None or isatty()):
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, disable=None, leave=False, **options)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
