"""Data-parallel training under Paddle's launcher (`python -m paddle.distributed.launch --nproc_per_node N ...`): the
rank and world size, one log (rank 0's; other ranks log warnings and errors only), and an orderly end.

Every rank trains on its share of each batch; rank 0 alone evaluates, writes best_model, checkpoints and metrics.
`finish()` ends the run in order: a rank that leaves while another still holds the collective's connections (rank 0
writing its best_model and metrics while rank 1 has already exited, say) may make the one left behind abort in
gloo's connection thread at exit (exit code -6, the launcher then reports failure). So every rank waits at a barrier
until rank 0 is done, then the process group is destroyed before Python tears the process down.
"""
import logging
from dataclasses import dataclass

from ..log import logger


@dataclass(frozen=True)
class DataParallel:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1

    @classmethod
    def start(cls, batch_size):
        """Join the launcher's process group (when there is one), quiet the other ranks' logs, say the layout."""
        import paddle.distributed as dist

        run = cls(dist.get_rank(), dist.get_world_size())
        if run.distributed:
            dist.init_parallel_env()
            if not run.is_main:
                logger.setLevel(logging.WARNING)
            logger.info("data-parallel: world size %d, batch size %d a rank, global batch size %d", run.world_size,
                        batch_size, batch_size * run.world_size)
        return run

    def wrap(self, model):
        import paddle

        return paddle.DataParallel(model) if self.distributed else model

    def finish(self):
        """Wait until every rank (rank 0 writing its outputs) is done, then close the process group."""
        if self.distributed:
            import paddle.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
