"""Executors: where the systems of a study run.

Every executor runs a whole system (teacher, students, benchmark, evaluation) in one place
through :func:`potstill.study.system.run_system`, which writes the system's records
atomically into the study folder and skips a system whose records are all present. The
executor only decides where and how many at once:

- ``local``: one system after another in this process (the default);
- ``process``: a pool of processes on this machine (:mod:`.local`);
- ``ray``: one Ray task per system on a Ray cluster (:mod:`.on_ray`), the ``[ray]`` extra.

Each calls ``done(spec, new_records)`` in the driver as a system finishes, so the runner
can announce and track it while the others still run.
"""

from __future__ import annotations

from potstill.executors.local import Done, run_in_processes, run_in_this_process
from potstill.executors.on_ray import run_on_ray

__all__ = ["Done", "run_in_processes", "run_in_this_process", "run_on_ray"]
