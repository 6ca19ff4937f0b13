"""The progress bar of a long command: tqdm on stderr, moved by a service's ``progress(done,
total)`` callback, so that the services report progress without knowing about terminals.

    with ProgressBar(enabled=not no_progress, desc=_("executing"), unit=_("letters")) as bar:
        services.execute_run(run=run, actor=actor, progress=bar)

Off with ``--no-progress`` (``enabled=False``), and by tqdm itself when stderr is no terminal
(``disable=None``), so logs and pipes get no bar.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from tqdm import tqdm


class ProgressBar:
    def __init__(self, *, enabled: bool = True, total: int = 0, **options: Any) -> None:
        self.bar = tqdm(total=total, file=sys.stderr, disable=None, leave=False,
                        **options) if enabled else None

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
