"""A lost peer in a multi-process run → one message and a clean exit within `peer_timeout`.

When a process dies (kill -9, OOM killer, lost node), the others block in a collective or get a
Gloo error, then hang in `jax.distributed`'s shutdown and are aborted by its heartbeat check
with a C++ stack dump. `PeerWatch` is a daemon thread that publishes a heartbeat counter in the
coordination service's key-value store every second and reads the others'. A process whose
counter stands still for `timeout` seconds (or a coordinator that stops answering for that long:
process 0 is gone) is lost: the watch prints one line naming it and the newest finished
checkpoint, releases the workdir lock and ends this process with `os._exit(EXIT_PEER_LOST)`,
the only exit that skips the distributed shutdown which would hang. It acts from its own thread
because the main thread may be blocked in a collective that never returns.

When process 0 (the coordinator) dies, the runtime's client notices within a second and ends
the other processes itself (its "another task died" message and an abort): its callback for
that case cannot be replaced from Python (jaxlib 0.10 cannot pass the status to a Python
callable). Losing any other process is handled here.
"""

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable

import jax

EXIT_PEER_LOST = 75  # EX_TEMPFAIL (sysexits.h): restarting every process resumes the run
_runs = itertools.count()


class PeerWatch:
    """Heartbeats through the coordination service; exits when a peer is silent too long.

    Args:
      timeout: seconds without a new heartbeat after which a process counts as lost.
      last_good: returns a short description of the newest finished checkpoint.
      on_exit: called before the process exits (release the lock, ...).
      interval: seconds between heartbeats.
    """

    def __init__(
        self,
        timeout: float,
        last_good: Callable[[], str],
        on_exit: Callable[[], None] = lambda: None,
        interval: float = 1.0,
    ):
        from jax._src import distributed  # the coordination service's client (no public API)

        self.client = distributed.global_state.client
        self.timeout, self.last_good, self.on_exit = timeout, last_good, on_exit
        self.interval = min(interval, timeout / 4)
        self.me, self.count = jax.process_index(), jax.process_count()
        self.prefix = f"cnnjax/alive/{next(_runs)}/"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cnnjax-peer-watch", daemon=True)

    def __enter__(self) -> "PeerWatch":
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # A run ending with an error keeps watching: the error may be the lost peer's, and the
        # distributed shutdown that follows would hang until the runtime aborts.
        if exc_type is None:
            self._stop.set()
        elif isinstance(exc, jax.errors.JaxRuntimeError):
            # A failed collective (a Gloo "connection reset"): give the watch the time to name
            # the lost process (it exits from its thread) instead of printing the raw error.
            time.sleep(self.timeout + 2 * self.interval)

    def _run(self) -> None:
        now = time.monotonic()
        seen = {p: (None, now) for p in range(self.count) if p != self.me}  # value, when it moved
        answered = now
        for beat in itertools.count():
            if self._stop.wait(self.interval if beat else 0):
                return
            now = time.monotonic()
            try:
                self.client.key_value_set(f"{self.prefix}{self.me}", str(beat), True)
                values = dict(self.client.key_value_dir_get(self.prefix))
                answered = now
            except Exception:  # noqa: BLE001 - the coordinator (process 0) does not answer
                if now - answered > self.timeout and self.me != 0:
                    self.lost(0, f"no answer from the coordinator for {now - answered:.0f} s")
                continue
            for peer, (old, moved) in seen.items():
                value = values.get(f"{self.prefix}{peer}")
                if value != old:
                    seen[peer] = (value, now)
                elif now - moved > self.timeout:
                    self.lost(peer, f"no heartbeat for {now - moved:.0f} s")

    def lost(self, peer: int | None, why: str) -> None:
        """Prints the one message, runs `on_exit` and ends the process (`EXIT_PEER_LOST`)."""
        if self._stop.is_set():
            return
        what = f"process {peer} of {self.count}" if peer is not None else "a process"
        message = (
            f"{what} is lost ({why.splitlines()[0][:200]}; peer_timeout={self.timeout:g} s), "
            f"so process {self.me} stops too. Newest finished checkpoint: {self.last_good()}. "
            f"Restart every process with the same command to resume from it"
        )
        try:
            print(message, file=sys.stderr, flush=True)
            sys.stdout.flush()
            self.on_exit()
        finally:
            os._exit(EXIT_PEER_LOST)


__all__ = ["EXIT_PEER_LOST", "PeerWatch"]
