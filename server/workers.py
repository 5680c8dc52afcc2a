"""A worker process that dies is replaced: ``xinyi serve``'s main process watches its workers.

Sanic's worker manager notes that a worker exited (killed, out of memory, a crash at start-up)
but does not start another, so the server would go on with one worker fewer until it is
restarted by hand. A thread of the main process looks at the workers every ``WATCH_EVERY_S``
and asks the manager (through its own message pipe, as ``app.m.restart`` does from a worker) to
restart one that failed. A worker that keeps failing (the database is down at its start-up) is
restarted after a pause that doubles up to ``RESTART_MAX_S``. A worker that completed (the
server is stopping) is left alone.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sanic import Sanic

from server.outage import Backoff

log = logging.getLogger("xinyi")

WATCH_EVERY_S = 0.25
RESTART_MAX_S = 30.0


def replace_dead_workers(app: Sanic) -> None:
    """In ``xinyi serve``'s main process: restart any server worker that exited with a failure."""

    @app.main_process_ready
    async def _watch(app: Sanic, _loop: Any = None) -> None:
        thread = threading.Thread(
            target=_watch_workers, args=(app.manager,), name="xinyi-worker-watch", daemon=True
        )
        thread.start()


def _watch_workers(manager: Any) -> None:
    from sanic.worker.process import ProcessState

    backoff: dict[str, Backoff] = {}
    due: dict[str, float] = {}
    while True:
        time.sleep(WATCH_EVERY_S)
        if getattr(manager, "_shutting_down", False):
            return
        try:
            processes = [p for worker in list(manager.transient.values()) for p in list(worker.processes)]
        except RuntimeError:  # changed while read (the manager scaled or restarted): look again
            continue
        for process in processes:
            name = process.name
            if process.state is not ProcessState.FAILED or process.is_alive():
                if process.state is ProcessState.ACKED:
                    backoff.pop(name, None)  # up and serving again
                continue
            now = time.monotonic()
            if name not in due:
                pause = backoff.setdefault(name, Backoff(first_s=0.5, cap_s=RESTART_MAX_S)).failed()
                due[name] = now + (0.0 if backoff[name].failures == 1 else pause)
            if now < due[name] or getattr(manager, "_shutting_down", False):
                continue
            del due[name]
            log.warning("worker %s (pid %s) exited with a failure: starting another", name, process.pid)
            try:
                manager.monitor_publisher.send(name)  # the manager's loop restarts it
            except (OSError, EOFError):  # the manager is gone: the server is stopping
                return
