"""The log layout of a show: `   12.34s info    voice: text` (show time, level, source, message).

The CLI points the formatter at the show's clock once a show runs; before that, and in processes
that have no show clock (the renderer), the stamp is a dash. One layout for both, so the lines of
the renderer process read like the show's own.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from director.clock import Clock


class ShowTimeFormatter(logging.Formatter):
    def __init__(self, *, source: str | None = None) -> None:
        super().__init__()
        self.clock: Clock | None = None
        self.source = source  # shown instead of the logger's name (a process's lines as one)

    def format(self, record: logging.LogRecord) -> str:
        stamp = f"{self.clock.now():8.2f}s" if self.clock is not None else "   -    "
        name = self.source if self.source is not None else \
            record.name.removeprefix("director.").removeprefix("director")
        where = f" {name}" if name else ""
        text = f"{stamp} {record.levelname.lower():7}{where}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(level: int | str, *, source: str | None = None) -> ShowTimeFormatter:
    """Send the `director` loggers to stderr in the show's layout; returns the formatter."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = ShowTimeFormatter(source=source)
    handler.setFormatter(formatter)
    root = logging.getLogger("director")
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO) if isinstance(level, str)
                  else level)
    root.propagate = False
    return formatter
