"""Progress for people: a bar on a terminal; in a log (no TTY) a plain line every N seconds.

tqdm redraws its bar with carriage returns and escape codes, which turn a log file into one
enormous line. Off a terminal every stage prints `desc: n/total unit (s, ETA)` lines instead,
at most one per COLLECTIVESFT_PROGRESS_SECONDS (default 30) plus a last one, and the libraries'
own bars (transformers, datasets, huggingface_hub, the Trainer) are switched off. The ETA is
the rate so far (items done in this session over its time) applied to the items left.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Iterator


def on_terminal() -> bool:
    return sys.stderr.isatty()


def _every() -> float:
    return float(os.environ.get("COLLECTIVESFT_PROGRESS_SECONDS", "30"))


def duration(seconds: float) -> str:
    """Seconds as people read them: '45 s', '12 min', '3.5 h', '2.1 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class LogLines:
    """The tqdm calls the stages use (update, close, context manager), printing plain lines."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0):
        self.total, self.desc, self.unit, self.n, self.initial = total, desc, unit, initial, initial
        self.started = self.last = time.monotonic()
        self.said: int | None = None

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= _every():
            self.last = now
            self._line()

    def _line(self) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        elapsed = time.monotonic() - self.started
        eta = ""
        if self.total is not None and self.n > self.initial and self.n < self.total:
            eta = f", ETA {duration(elapsed / (self.n - self.initial) * (self.total - self.n))}"
        print(f"{self.desc}: {self.n}{of} {self.unit} ({elapsed:.0f} s{eta})", file=sys.stderr, flush=True)
        self.said = self.n

    def write(self, text: str, file=None) -> None:
        """A line of its own between progress lines (tqdm.write's signature)."""
        print(text, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        if self.n and self.n != self.said:  # the last count, unless the last line said it
            self._line()

    def __enter__(self) -> "LogLines":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0):
    """A tqdm bar on a terminal, else LogLines."""
    if on_terminal():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=sys.stderr, leave=False)
    return LogLines(total, desc, unit, initial)


def iterate(items: Iterable, desc: str, unit: str = "it", total: int | None = None) -> Iterator:
    """Yield `items`, reporting progress as `progress` does."""
    with progress(total, desc, unit) as bar:
        for item in items:
            yield item
            bar.update(1)


def quiet_libraries() -> None:
    """Off a terminal, switch off the progress bars of huggingface_hub, transformers and datasets:
    by their environment variables for later imports, by their switches if already imported."""
    if on_terminal():
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging

        logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
