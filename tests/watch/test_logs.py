"""Log messages in a watched run: routed to the front end, repeats said once with a count."""

from __future__ import annotations

import logging

from potstill.watch.logs import CallbackHandler, routed_logs


def test_a_repeated_warning_is_said_once_then_counted() -> None:
    seen: list[logging.LogRecord] = []
    log = logging.getLogger("potstill.study.records")
    with routed_logs(CallbackHandler(seen.append), logging.WARNING):
        for system in ("a", "b", "c"):
            log.warning("the teacher's INT8 export could not be re-scored: %s", system)
        log.warning("something else")
        log.info("training teacher for %s", "a")  # below the level: not shown
    messages = [r.getMessage() for r in seen]
    assert messages == [
        "the teacher's INT8 export could not be re-scored: a",
        "something else",
        "said 3 times in all: the teacher's INT8 export could not be re-scored: a",
    ]
    assert getattr(seen[-1], "count", None) == 3 and seen[-1].levelname == "WARNING"


def test_quiet_keeps_errors_only_and_the_logger_is_restored() -> None:
    seen: list[logging.LogRecord] = []
    logger = logging.getLogger("potstill")
    before = (logger.level, logger.propagate, list(logger.handlers))
    with routed_logs(CallbackHandler(seen.append), logging.ERROR):
        logging.getLogger("potstill.x").warning("hidden")
        logging.getLogger("potstill.x").warning("hidden")
        logging.getLogger("potstill.x").error("shown")
    assert [r.getMessage() for r in seen] == ["shown"]
    assert (logger.level, logger.propagate, list(logger.handlers)) == before
