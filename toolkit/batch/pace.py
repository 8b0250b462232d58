"""The SMTP rate limit shared by every worker of a batch.

One client's run spaces its messages by its manual's ``messages_per_minute``. When
several clients send at once through the same server, each worker reserves the next
free slot for that server here, so the server sees the batch's messages spaced as one
run's would be. The slots live in a ``multiprocessing`` manager, which works the same
with any start method.
"""

from __future__ import annotations

import time
from multiprocessing.managers import SyncManager
from typing import Any


class SharedPace:
    """Spaces sends to the same server (``host:port``) across processes.

    Call it as ``pace(where, interval)`` just before sending: it returns once this
    process may send, ``interval`` seconds after the previous slot reserved for ``where``.
    """

    def __init__(self, manager: SyncManager) -> None:
        self._lock: Any = manager.Lock()
        self._next: Any = manager.dict()  # server -> the time (time.time()) its next send may start

    def __call__(self, where: str, interval: float) -> None:
        with self._lock:
            now = time.time()
            start = max(now, float(self._next.get(where, 0.0)))
            self._next[where] = start + interval
        if start > now:
            time.sleep(start - now)
