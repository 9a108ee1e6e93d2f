"""What a watcher knows of a run so far, rebuilt from its events alone.

The live view draws this state; the ETA is learned from the systems already finished:
each remaining system is expected to take the mean time of those that did work (a system
whose records were all present takes no time and teaches nothing), and the current one
that mean minus the time it has run. Before the first system finishes there is no ETA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from potstill.events import (
    Event,
    StageFinished,
    StageProgress,
    StageStarted,
    StudyFinished,
    StudyStarted,
    SystemFinished,
    SystemStarted,
)

__all__ = ["RunState"]


@dataclass
class RunState:
    """The fleet's progress and the current system's stage, from the events seen."""

    name: str = ""
    out: str = ""
    started: float | None = None
    total: int = 0
    done: int = 0
    system: str | None = None
    index: int = 0
    system_started: float | None = None
    stage: StageStarted | None = None
    progress: StageProgress | None = None
    finished_stages: list[StageFinished] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)  # systems that did work
    ended: StudyFinished | None = None

    def apply(self, event: Event) -> None:
        """Update the state with one event."""
        if isinstance(event, StudyStarted):
            self.name, self.out, self.total = event.name, event.out, len(event.systems)
            self.started = event.at
        elif isinstance(event, SystemStarted):
            self.system, self.index, self.system_started = event.system, event.index, event.at
            self.total = max(self.total, event.total)
            self.finished_stages = []
        elif isinstance(event, StageStarted):
            self.stage, self.progress = event, None
        elif isinstance(event, StageProgress):
            self.progress = event
        elif isinstance(event, StageFinished):
            self.finished_stages.append(event)
            self.stage, self.progress = None, None
        elif isinstance(event, SystemFinished):
            self.done += 1
            if event.new_records:
                self.durations.append(event.seconds)
            self.system = self.system_started = None
        elif isinstance(event, StudyFinished):
            self.ended = event

    def elapsed(self, now: float) -> float:
        return 0.0 if self.started is None else max(now - self.started, 0.0)

    def eta(self, now: float) -> float | None:
        """Seconds left, from the mean time of the systems finished so far (None: unknown)."""
        if not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        waiting = max(self.total - self.done, 0)
        if self.system_started is None:
            return waiting * mean
        current = max(mean - (now - self.system_started), 0.0)
        return current + max(waiting - 1, 0) * mean
