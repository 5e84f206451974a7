"""Progress of long phases on stderr: a bar on a terminal, log lines otherwise.

A backtest walks hundreds of rebalances and a rebalance trains the LSTM for minutes;
both say how far they are through one `Reporter`:

- when stderr is a terminal, a rich progress bar per unit counted (rebalances,
  epochs);
- otherwise (cron, CI, a pipe into a log file), a line on stderr at most every
  ``interval`` seconds, such as
  ``12:04:31 backtest 2003-05: 100/336 rebalances, 42 s elapsed``; the first update
  of each unit and the last step of a phase are always written, so a log shows that
  a phase started and that it ended;
- with ``quiet``, nothing.

The interval is `DEFAULT_INTERVAL` seconds unless the environment variable
``PORTFOLIO_PROGRESS_SECONDS`` sets another (``0`` writes every update). Progress
goes to stderr so that stdout keeps only the results a script reads.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from foliocast.portfolio.config import ConfigError

if TYPE_CHECKING:
    from foliocast.forecasting.train import EpochEnd

__all__ = ["DEFAULT_INTERVAL", "INTERVAL_VARIABLE", "Reporter", "progress_interval"]

INTERVAL_VARIABLE = "PORTFOLIO_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 15.0  # often enough to show life in a log, rare enough to read


def progress_interval(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between progress lines when stderr is not a terminal.

    Parameters
    ----------
    environ : mapping, optional
        Environment to read ``PORTFOLIO_PROGRESS_SECONDS`` from; default
        ``os.environ``.

    Returns
    -------
    float
        `DEFAULT_INTERVAL` when the variable is unset or blank.

    Raises
    ------
    ConfigError
        If the variable is set to anything but a finite number >= 0.
    """
    text = (os.environ if environ is None else environ).get(INTERVAL_VARIABLE, "")
    if not text.strip():
        return DEFAULT_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ConfigError(
            f"{INTERVAL_VARIABLE} must be a number of seconds >= 0, got {text!r}; "
            f"unset it for the default of {DEFAULT_INTERVAL:g}"
        )
    return seconds


class Reporter:
    """Shows the progress of long phases on stderr (see the module docstring).

    Use it as a context manager around the work; `update` and `epoch` may be
    called any number of times inside it.

    Parameters
    ----------
    quiet : bool, default False
        Show nothing.
    interval : float, optional
        Seconds between lines when the stream is not a terminal; default
        `progress_interval()`.
    stream : file-like, optional
        Where to write; default ``sys.stderr`` at the time of use.
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        interval: float | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        self.quiet = quiet
        self.interval = (
            0.0 if quiet else progress_interval() if interval is None else interval
        )
        self._stream = stream
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._started = time.monotonic()
        # Each unit keeps its own clock: frequent epoch lines must not crowd out
        # the rebalance lines of the backtest they belong to.
        self._last_line: dict[str, float] = {}

    @property
    def stream(self) -> IO[str]:
        """The stream progress is written to."""
        return sys.stderr if self._stream is None else self._stream

    def _terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty is not None and isatty())

    def __enter__(self) -> Reporter:
        self._started = time.monotonic()
        if not self.quiet and self._terminal():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} {task.fields[unit]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self._tasks = {}
        self._last_line = {}

    def update(
        self, description: str, done: int, total: int, unit: str, detail: str = ""
    ) -> None:
        """Report ``done`` of ``total`` ``unit`` of the phase ``description``.

        Parameters
        ----------
        description : str
            What is being done, e.g. ``"backtest 2003-05"``.
        done, total : int
            Steps finished and steps in the phase.
        unit : str
            What a step is (``"rebalances"``, ``"epochs"``); each unit gets its own
            bar on a terminal.
        detail : str, optional
            Appended to the line, e.g. the latest losses.
        """
        if self.quiet:
            return
        if self._bar is not None:
            text = f"{description} ({detail})" if detail else description
            task = self._tasks.get(unit)
            if task is None:
                self._tasks[unit] = self._bar.add_task(
                    text, total=total, completed=done, unit=unit
                )
            else:
                self._bar.update(task, description=text, completed=done, total=total)
            return
        now = time.monotonic()
        last = self._last_line.get(unit, -math.inf)
        if not (done >= total or now - last >= self.interval):
            return
        self._last_line[unit] = now
        line = (
            f"{time.strftime('%H:%M:%S')} {description}: {done}/{total} {unit}, "
            f"{now - self._started:.0f} s elapsed"
        )
        print(f"{line}, {detail}" if detail else line, file=self.stream, flush=True)

    def epoch(self, end: EpochEnd) -> None:
        """Report a finished training epoch (an ``on_epoch`` callback of training)."""
        where = "" if end.fit_date is None else f" on data to {end.fit_date:%Y-%m-%d}"
        losses = f"train loss {end.train_loss:.4g}"
        if end.val_loss is not None:
            losses += f", val loss {end.val_loss:.4g}"
        self.update(
            f"training lstm{where}", end.epoch, end.max_epochs, "epochs", losses
        )
