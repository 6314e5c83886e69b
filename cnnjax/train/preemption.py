"""SIGTERM / SIGINT → stop after the current step, at a step every process agrees on.

SLURM, Kubernetes and preemptible VMs send SIGTERM some seconds before they kill a job; Ctrl-C
sends SIGINT. `StopSignals` turns the first one into a request the loop reads after each step
(`should_stop`); the loop then saves a checkpoint at that step and raises `Preempted`, whose exit
code is the shell's 128 + signal (143, 130). A second signal exits at once (`os._exit`): Orbax
writes into a temporary folder and renames it only when complete, so an interrupted save
leaves no checkpoint that looks finished, and its leftover is removed by the next run.

In a multi-process run the signal may reach one process only, and processes may be a few steps
apart in Python (dispatch is asynchronous). The stop step is agreed through JAX's coordination
service (the key-value store `jax.distributed` already runs): a process that got a signal
publishes a notice; every process checks for it after each step (one small RPC), publishes its
current step, meets the others at a barrier, and all stop at the largest published step. This
is the protocol of `jax.experimental.multihost_utils.reached_preemption_sync_point`, which only
listens to SIGTERM; here Ctrl-C counts too.
"""

import itertools
import os
import signal
import threading
from collections.abc import Callable

import jax

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_runs = itertools.count()  # one key namespace per run of this process (all processes agree)


class Preempted(Exception):
    """The run stopped on a signal after saving a checkpoint; `exit_code` is 128 + signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class StopSignals:
    """Context manager: SIGTERM / SIGINT request a stop; a second one exits at once.

    Args:
      on_hard_exit: called (quickly: it runs in the signal handler) before a second signal ends
        the process, e.g. to release the workdir lock.
      timeout: seconds the multi-process agreement may wait for the other processes.
    """

    def __init__(self, on_hard_exit: Callable[[], None] = lambda: None, timeout: float = 60.0):
        self.signum: int | None = None
        self.on_hard_exit, self.timeout = on_hard_exit, timeout
        self._previous: dict = {}
        self._client = None
        self._prefix = f"cnnjax/stop/{next(_runs)}"
        self._announced = False
        self._stop_step: int | None = None
        self.stopped_by: int | None = None  # the signal behind the agreed stop (any process's)

    def __enter__(self) -> "StopSignals":
        if jax.process_count() > 1:
            from jax._src import distributed  # the coordination service's client (no public API)

            self._client = distributed.global_state.client
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        del frame
        if self.signum is None:
            self.signum = signum
            return
        # A second signal: the user (or the scheduler) will not wait for the save.
        os.write(2, f"\n{signal_name(signum)} again: exiting at once\n".encode())
        try:
            self.on_hard_exit()
        finally:
            os._exit(128 + signum)

    def should_stop(self, step: int) -> bool:
        """Whether the loop must save and stop after `step` (every process gets the same answer)."""
        if self._client is None:
            if self.signum is not None:
                self.stopped_by = self.signum
            return self.signum is not None
        if self._stop_step is None:
            self._stop_step = self._agree(step)
        return self._stop_step is not None and step >= self._stop_step

    def _agree(self, step: int) -> int | None:
        client, prefix = self._client, self._prefix
        if self.signum is not None and not self._announced:
            try:
                client.key_value_set(f"{prefix}/notice", str(self.signum))
            except Exception:  # noqa: BLE001 - another process announced first: fine
                pass
            self._announced = True
        try:
            notice = client.key_value_try_get(f"{prefix}/notice")
        except Exception:  # noqa: BLE001 - NOT_FOUND: nobody asked to stop
            return None
        self.stopped_by = int(notice)
        client.key_value_set(f"{prefix}/step/{jax.process_index()}", str(step))
        client.wait_at_barrier(f"{prefix}/barrier", int(self.timeout * 1000))
        steps = [int(v) for _, v in client.key_value_dir_get(f"{prefix}/step/")]
        return max(steps)


__all__ = ["Preempted", "StopSignals", "signal_name"]
