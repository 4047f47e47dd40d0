"""predict.py --output_file: an input file predicted in parts, shared out between the ranks of
`paddle.distributed.launch`, and merged into one output file in input order.

The input's windows (predict.py's 8,192 lines) are the parts: rank r of N does parts r, r+N, r+2N... Each part is
written atomically into OUTPUT.parts/DIGEST/ as NNNNNNNN.jsonl (the JSON lines) and then NNNNNNNN.json (its counts:
the part is done once this exists). DIGEST covers the input file's SHA-256, the model's files (the export's
manifest), --logits, the runtime settings and the part size, so parts of another input or another model are never
mixed in: they sit in another directory. A rerun of a killed run skips the parts already done, whatever its number of
ranks. Rank 0 waits for every part (the ranks need no collective: under several nodes OUTPUT's directory must be
shared), writes OUTPUT atomically from the parts in order, then removes the parts it merged.
"""
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass

from ..atomic import read_json, write_file_atomically, write_json
from ..data.reading import DataError
from ..log import logger
from .manifest import sha256_of

FORMAT = 1  # of the parts: a change of layout gives other digests, never a mix
WAIT_POLL_S = 0.2


@dataclass(frozen=True)
class Tally:
    """What a window (or a whole input) gave: texts predicted, labelled rows and correct ones, lines skipped."""

    predicted: int = 0
    labelled: int = 0
    correct: int = 0
    skipped: int = 0

    def __add__(self, other):
        return Tally(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def report(self, source):
        """The accuracy of labelled rows and the count of skipped lines on stderr; the exit status."""
        if self.labelled:
            print(f"accuracy {self.correct / self.labelled:.4f} ({self.correct}/{self.labelled} labelled rows)",
                  file=sys.stderr)
        if self.skipped:
            print(f"{self.skipped} input(s) could not be predicted (see above); {self.predicted} predicted",
                  file=sys.stderr)
            return 1
        if not self.predicted:
            raise DataError(f"{source} holds no text to predict")
        return 0


@dataclass(frozen=True)
class Shard:
    """This process's share: rank `rank` of `count` (paddle.distributed.launch's PADDLE_TRAINER_ID and
    PADDLE_TRAINERS_NUM; one process alone outside the launcher)."""

    rank: int = 0
    count: int = 1

    @classmethod
    def from_launcher(cls):
        return cls(int(os.environ.get("PADDLE_TRAINER_ID", 0)), int(os.environ.get("PADDLE_TRAINERS_NUM", 1)))

    @property
    def is_main(self):
        return self.rank == 0

    def owns(self, part):
        return part % self.count == self.rank


def parts_fingerprint(input_file, manifest, with_logits, runtime, part_lines=8192):
    """The SHA-256 naming a run's parts: the input's bytes, the model's files, what is written and how it is run."""
    model = hashlib.sha256(json.dumps(manifest.files, sort_keys=True).encode()).hexdigest()
    what = {"format": FORMAT, "input": sha256_of(input_file), "model": model, "logits": with_logits,
            "runtime": dataclasses.asdict(runtime), "part_lines": part_lines}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def write_atomically(output_file, write):
    """write(f) into output_file, which appears once complete; returns what write returns."""
    result = []
    write_file_atomically(output_file, lambda f: result.append(write(f)))
    return result[0]


class Parts:
    def __init__(self, output_file, fingerprint):
        self.output_file = output_file
        self.root = f"{output_file}.parts"
        self.directory = os.path.join(self.root, fingerprint[:16])

    def path(self, part, suffix):
        return os.path.join(self.directory, f"{part:08d}{suffix}")

    def done(self, part):
        return os.path.isfile(self.path(part, ".json"))

    def tally(self, part):
        return Tally(**read_json(self.path(part, ".json")))

    def predict(self, windows, predict_window, shard, progress=None, source="the input"):
        """Predict this shard's parts not done yet (predict_window(window) -> (JSON lines, Tally)); on rank 0, wait
        for the others' and merge. Returns the exit status (rank 0's says for the whole input)."""
        count = redone = predicted = 0
        for part, window in enumerate(windows):
            count = part + 1
            if not shard.owns(part) or self.done(part):
                continue
            lines, tally = predict_window(window)
            os.makedirs(self.directory, exist_ok=True)
            write_file_atomically(self.path(part, ".jsonl"), lambda f: f.write(lines))
            write_json(self.path(part, ".json"), dataclasses.asdict(tally))
            redone, predicted = redone + 1, predicted + tally.predicted
            if progress:
                progress.update(predicted)
        mine = len([part for part in range(count) if shard.owns(part)])
        if mine > redone:
            logger.info("%d of this rank's %d part(s) were done by an earlier run: kept", mine - redone, mine)
        if not shard.is_main:
            logger.info("rank %d: %d part(s) written in %s; rank 0 merges them", shard.rank, redone, self.directory)
            return 0
        self._wait_for(count)
        total = sum((self.tally(part) for part in range(count)), Tally())
        status = total.report(source)  # (before anything is written: an input without text writes nothing)

        def merge(out):
            for part in range(count):
                with open(self.path(part, ".jsonl"), encoding="utf-8") as f:
                    shutil.copyfileobj(f, out)

        write_file_atomically(self.output_file, merge)
        shutil.rmtree(self.directory)
        if not os.listdir(self.root):  # (parts of other inputs or models stay)
            os.rmdir(self.root)
        logger.info("wrote %s (%d parts, %d texts)", self.output_file, count, total.predicted)
        return status

    def _wait_for(self, count):
        waiting = [part for part in range(count) if not self.done(part)]
        if waiting:
            logger.info("waiting for %d part(s) of the other ranks", len(waiting))
        while waiting:
            time.sleep(WAIT_POLL_S)
            waiting = [part for part in waiting if not self.done(part)]
