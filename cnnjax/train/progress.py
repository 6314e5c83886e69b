"""Progress display: a tqdm bar on a terminal, one plain line per log interval otherwise."""

import sys
import time

from tqdm import tqdm


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Shows step, loss, accuracy, images/s and ETA.

    Args:
      total: the run's last step.
      start: the step the run starts (or resumes) from.
      enabled: False on processes other than 0.
      bar: use a tqdm bar when stderr is a terminal.
    """

    def __init__(self, total: int, start: int, enabled: bool = True, bar: bool = True):
        self.total, self.step, self.enabled = total, start, enabled
        self.start_time, self.start_step = time.time(), start
        use_bar = enabled and bar and sys.stderr.isatty()
        self.bar = (
            tqdm(total=total, initial=start, unit="step", dynamic_ncols=True) if use_bar else None
        )

    def update(self, step: int, loss: float, accuracy: float, images_per_second: float) -> None:
        """Called at log intervals (after the host has the metrics)."""
        if not self.enabled:
            return
        done = step - self.start_step
        rate = done / max(time.time() - self.start_time, 1e-9)
        eta = (self.total - step) / max(rate, 1e-9)
        if self.bar is not None:
            self.bar.update(step - self.step)
            self.bar.set_postfix(
                loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", img_s=f"{images_per_second:.0f}"
            )
        else:
            print(
                f"step {step}/{self.total} loss={loss:.4f} accuracy={accuracy:.4f} "
                f"img/s={images_per_second:.0f} eta={_duration(eta)}",
                flush=True,
            )
        self.step = step

    def write(self, message: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message)
        else:
            print(message, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
