"""The live view of a run in a terminal (rich).

Two lines stay at the bottom of the screen while a study runs: the fleet (systems done of
total, elapsed, the ETA learned from the systems finished so far) and the current system's
stage with its own bar (epoch and loss, calls done of planned, bootstrap resamples,
robustness severities). Each finished system leaves one line above them: best student,
retention, cost reduction, verdict against scratch, gates. The screen is redrawn a few
times a second, at every stage start and end, and at progress (at most every
``min_interval`` seconds).
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from potstill.events import Event, StageFinished, StageStarted, SystemFinished
from potstill.watch.state import RunState
from potstill.watch.text import clock, duration, outcome_text, progress_text, stage_label

__all__ = ["LiveView"]

_MARK = {"ok": ("✓", "green"), "failed": ("✗", "red"), "skipped": ("–", "dim")}


class LiveView:
    """A rich ``Live`` display fed by events; use as a context manager around the run."""

    def __init__(
        self, console: Console, refresh_per_second: float = 4.0, min_interval: float = 0.1
    ) -> None:
        self.console, self.min_interval = console, min_interval
        self.state = RunState()
        self._drawn = 0.0
        self.live = Live(
            console=console,
            get_renderable=self.render,
            refresh_per_second=refresh_per_second,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.stop()

    def __call__(self, event: Event) -> None:
        """Apply ``event``; print a finished system's line; redraw at stage boundaries."""
        self.state.apply(event)
        if isinstance(event, SystemFinished):
            line = Text.assemble(
                _MARK["ok" if event.status == "ok" else "failed"],
                " ",
                (event.system, "bold"),
                "  " + outcome_text(event),
            )
            self.console.print(line, highlight=False)
        now = time.monotonic()
        boundary = isinstance(event, (StageStarted, StageFinished, SystemFinished))
        if boundary or now - self._drawn >= self.min_interval:
            self._drawn = now
            self.live.refresh()

    def render(self) -> RenderableType:
        """The two live lines (and the current system's finished stages) as they are now."""
        now, s = time.time(), self.state
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(width=30)
        grid.add_column(overflow="ellipsis", no_wrap=True)
        eta = s.eta(now)
        fleet = f"elapsed {clock(s.elapsed(now))} · ETA " + (
            clock(eta) if eta is not None else "after the first system"
        )
        grid.add_row(
            Text(f"systems {s.done}/{s.total}", style="bold"),
            ProgressBar(total=max(s.total, 1), completed=s.done, width=30),
            Text(fleet),
        )
        if s.system is not None or s.stage is not None:
            grid.add_row(*self._stage_row(now))
        rows: list[RenderableType] = [grid]
        if s.system is not None and s.finished_stages:
            line = Text(f"  {s.system}:", style="dim", no_wrap=True, overflow="ellipsis")
            for f in s.finished_stages:
                line.append_text(Text.assemble(" ", _MARK[f.status], " "))
                line.append(f"{stage_label(f.stage, f.item)} {duration(f.seconds)}")
            rows.append(line)
        return Group(*rows)

    def _stage_row(self, now: float) -> tuple[RenderableType, RenderableType, RenderableType]:
        s = self.state
        name = f"  [{s.index}/{s.total}] {s.system}" if s.system is not None else "  study"
        if s.stage is None:
            return Text(name), ProgressBar(total=None, width=30), Text("")
        label = stage_label(s.stage.stage, s.stage.item)
        p = s.progress
        total = p.total if p is not None and p.total else None
        done = min(p.done, total) if p is not None and total else 0
        detail = progress_text(p) if p is not None else ""
        since = duration(max(now - s.stage.at, 0.0))
        return (
            Text(f"{name} · {label}"),
            ProgressBar(total=total, completed=done, width=30),
            Text(f"{detail} ({since})" if detail else since),
        )
