"""One logger for the project, in PaddleNLP's log style, and a training-progress line with speed and ETA."""
import logging
import sys
import time

logger = logging.getLogger("ernie_distill")
if not logger.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)8s] - %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class Progress:
    """Formats 'step 120/1200, epoch 1, loss 0.41, 5.2 step/s, eta 0:03:27' for periodic log lines."""

    def __init__(self, total_steps, start_step=0):
        self.total_steps, self.start_step, self.start_time = total_steps, start_step, time.time()

    def line(self, step, epoch, loss):
        elapsed = max(time.time() - self.start_time, 1e-9)
        speed = (step - self.start_step) / elapsed
        eta = (self.total_steps - step) / speed if speed > 0 else 0
        return (
            f"step {step}/{self.total_steps}, epoch {epoch}, loss {loss:.4f}, "
            f"{speed:.2f} step/s, eta {time.strftime('%H:%M:%S', time.gmtime(eta))}"
        )
