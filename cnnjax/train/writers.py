"""Run logs: `metrics.jsonl` (one JSON object per event) and TensorBoard event files.

TensorBoard files are written with tensorboard's own `EventFileWriter` (no TensorFlow needed)
as scalar `simple_value`s tagged `<split>/<metric>`; TensorBoard's `EventAccumulator` reads
them back. Only process 0 writes: other processes get a writer whose methods do nothing.
"""

import json
import math
import os
import time
from collections.abc import Mapping

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

METRICS_FILE = "metrics.jsonl"


def _scalar(value) -> float | None:
    if isinstance(value, bool | str) or np.ndim(value) != 0:
        return None
    value = float(value)
    return value


class MetricWriter:
    """Appends events to `<workdir>/metrics.jsonl` and `<workdir>/tensorboard/`.

    Args:
      workdir: the run directory.
      enabled: False on processes other than 0.
    """

    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        self.path = os.path.join(workdir, METRICS_FILE)
        self._tb_dir = os.path.join(workdir, "tensorboard")
        self._tb = None  # opened at the first event: a run refused at restore leaves no file

    def truncate_after(self, step: int) -> None:
        """Drops events logged after `step` (work a killed run redoes after resuming)."""
        if not self.enabled or not os.path.exists(self.path):
            return
        rows = read_metrics(self.path)
        with open(self.path, "w") as f:
            for row in rows:
                if row.get("step", 0) <= step:
                    f.write(json.dumps(row) + "\n")

    def write(self, step: int, split: str, metrics: Mapping) -> dict:
        """Logs the scalar entries of `metrics` for `split` (`train` or `eval`) at `step`."""
        row = {"step": int(step), "split": split, "time": time.time()}
        for key, value in metrics.items():
            value = _scalar(value)
            if value is not None:
                row[key] = value if math.isfinite(value) else str(value)
        if not self.enabled:
            return row
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        values = [
            summary_pb2.Summary.Value(tag=f"{split}/{k}", simple_value=float(v))
            for k, v in row.items()
            if k not in ("step", "split", "time") and not isinstance(v, str)
        ]
        event = event_pb2.Event(
            wall_time=row["time"], step=int(step), summary=summary_pb2.Summary(value=values)
        )
        if self._tb is None:
            self._tb = EventFileWriter(self._tb_dir)
        self._tb.add_event(event)
        return row

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(path: str) -> list[dict]:
    """All events of a `metrics.jsonl` file, in order (a torn last line is ignored)."""
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows
