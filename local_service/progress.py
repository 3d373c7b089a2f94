"""One progress line on standard error, for the command-line tools; silent unless standard error is a terminal."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()

    def show(self, text: str) -> None:
        """Replace the progress line with `text`."""
        if self.on:
            print(f"\r\033[K{text}", end="", file=self.stream, flush=True)

    def clear(self, final: str = "") -> None:
        """Wipe the progress line, leaving `final` on a line of its own if given."""
        if self.on:
            print(f"\r\033[K{final}", end="\n" if final else "", file=self.stream, flush=True)
