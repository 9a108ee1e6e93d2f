"""Serving a studied student, shadowing it with its teacher, and catching drift.

``potstill serve STUDENT_DIR`` answers predictions from the ONNX file the study measured,
validates inputs against the saved feature schema, sends a sampled share of requests to
the teacher off the request path, and keeps requests, both models' outputs and feedback in
a store (SQLite or PostgreSQL). ``potstill monitor STORE`` judges the traffic window by
window against the reference profile the study recorded; ``potstill replay`` sends a
file's rows to a server on this machine.

The web and database packages are the ``[serve]`` extra; the submodules that need them
say so with a :class:`~potstill.errors.MissingDependencyError`. Only the settings are
imported here.
"""

from __future__ import annotations

from potstill.serve.config import MonitorConfig, ReplayConfig, ServeConfig, store_url

__all__ = ["MonitorConfig", "ReplayConfig", "ServeConfig", "store_url"]
