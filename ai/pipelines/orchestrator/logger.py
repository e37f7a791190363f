"""Structured run logging: JSON events to ``DIR/logs/run.jsonl``, progress on the terminal.

On a terminal each long step gets a rich progress bar (records/s, ETA); elsewhere (CI, pipes) plain
lines are printed instead so logs stay readable. Values of secret environment variables are
redacted from every event, line and error message.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
REDACTED = "***"


class Redactor:
    """Replaces the values of secret-looking environment variables wherever they appear."""

    def __init__(self, env: Mapping[str, str] | None = None, min_length: int = 4) -> None:
        env = os.environ if env is None else env
        secrets = {
            value for name, value in env.items() if SECRET_NAME.search(name) and len(value) >= min_length
        }
        for name in ("DATABASE_URL", "TEST_POSTGRES_URL"):
            password = urlsplit(env.get(name, "")).password if "://" in env.get(name, "") else None
            if password and len(password) >= min_length:
                secrets.add(password)
        # Longest first so a secret that contains another is replaced whole.
        ordered = sorted(secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value) if self._pattern else value

    def value(self, value: Any) -> Any:
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            # Keys too: a secret interpolated into a name (a category, a source) becomes a key in counts.
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


class RunLogger:
    """Events for one run. ``log_path`` may be None before the run directory exists."""

    def __init__(
        self, log_path: Path | None = None, console: Console | None = None, quiet: bool = False
    ) -> None:
        self.redactor = Redactor()
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self._file: IO[str] | None = None
        self._logger: Any = None
        if log_path is not None:
            self.open(log_path)

    def open(self, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._logger = structlog.wrap_logger(
            structlog.WriteLogger(self._file),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                self._redact_processor,
                structlog.processors.JSONRenderer(sort_keys=True),
            ],
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._logger = None

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal and not self.quiet

    def event(self, event: str, level: str = "info", echo: str | None = None, **fields: Any) -> None:
        """Log a structured event; ``echo`` is a human line also printed to the terminal."""
        if self._logger is not None:
            getattr(self._logger, level)(event, **fields)
            self._file.flush()  # type: ignore[union-attr]
        if echo and not self.quiet:
            style = {"warning": "yellow", "error": "bold red"}.get(level, "")
            self.console.print(self.redactor.text(echo), style=style or None, markup=False, highlight=False)

    def warning(self, event: str, echo: str | None = None, **fields: Any) -> None:
        self.event(event, level="warning", echo=echo, **fields)

    def error(self, event: str, echo: str | None = None, **fields: Any) -> None:
        self.event(event, level="error", echo=echo, **fields)

    @contextmanager
    def progress(
        self, step: str, total_shards: int, total_records: int | None = None
    ) -> Iterator[StepProgress]:
        tracker = StepProgress(self, step, total_shards, total_records)
        try:
            yield tracker
        finally:
            tracker.finish()

    def _redact_processor(self, _logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        return self.redactor.value(event_dict)


class StepProgress:
    """Progress of one step over shards: a rich bar on a terminal, a plain line per shard otherwise."""

    def __init__(self, log: RunLogger, step: str, total_shards: int, total_records: int | None) -> None:
        self.log = log
        self.step = step
        self.total_shards = total_shards
        self.done_shards = 0
        self.records = 0
        self.started = time.perf_counter()
        self._bar: Progress | None = None
        if log.interactive and total_shards > 0:
            self._bar = Progress(
                TextColumn("[bold]{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("shards  {task.fields[rate]:>9} rec/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=log.console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(step, total=total_shards, rate="-")

    def advance(self, records: int, skipped: bool = False) -> None:
        self.done_shards += 1
        self.records += records
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.records / elapsed
        if self._bar is not None:
            self._bar.update(self._task, advance=1, rate=f"{rate:,.0f}")
        elif not self.log.quiet:
            remaining = (self.total_shards - self.done_shards) * elapsed / self.done_shards
            state = "resumed" if skipped else f"{rate:,.0f} rec/s, ETA {remaining:,.0f}s"
            self.log.console.print(
                f"  {self.step}: shard {self.done_shards}/{self.total_shards} ({state})",
                markup=False,
                highlight=False,
            )

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def stderr_console() -> Console:
    return Console(stderr=True, force_terminal=None if sys.stderr.isatty() else False)
