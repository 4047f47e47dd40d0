"""Scoring a corpus with a student on a Ray cluster (predict.py --engine ray): Ray Data reads the input, a pool of
workers each loads the Predictor once and scores batches, and the driver gets the results back in input order.

The input is one text a line (UTF-8, lines ending at \\n or \\r\\n), a local path or any URI pyarrow's file systems
open (s3://, gs://, hdfs://). It is read in byte ranges of RANGE_BYTES, each a Ray Data read task that starts at the
first line beginning in its range and yields BLOCK_LINES lines at a time, so an input larger than memory streams.
One read task runs at a time for every WORKERS_A_READER workers: a task reads a local file about 20x as fast as a worker
scores it, and unbounded, Ray Data started a process for every range at once, costing a small machine a third of its
time. (Over a slow object store one reader may keep fewer workers busy.)
(`ray.data.read_text` reads a whole file into one block, and splits lines at more characters than predict.py does.)
Ray Data's streaming executor keeps the blocks' order (DataContext's preserve_order) and retries the task of a worker
that died on a new worker: a row is never lost or scored twice in the output. A line that cannot be predicted is
named by its byte offset.
"""
import io
import json
import math
import os
from dataclasses import dataclass
from functools import partial

from ..errors import InputError
from .inference import Predictor, RuntimeSettings, text_problem

RANGE_BYTES = 16 * 2**20
BLOCK_LINES = 4096
WORKERS_A_READER = 16  # workers one read task keeps busy


@dataclass(frozen=True)
class RaySettings:
    address: str = None  # an existing cluster ("auto", "ray://host:10001"); None: an embedded local one
    num_workers: int = None  # None: as many as the cluster's CPUs hold (each reserves the runtime's cpu_threads)


def _open(path):
    import pyarrow.fs

    filesystem, inner = pyarrow.fs.FileSystem.from_uri(path) if "://" in path else (pyarrow.fs.LocalFileSystem(), path)
    return filesystem, inner


def input_size(path):
    """The input's size in bytes; a TSV with a header (predict.py reads its text_a column, Ray does not) is refused, as
    is an input that cannot be opened (an InputError naming it, before Ray starts)."""
    import pyarrow

    try:
        filesystem, inner = _open(path)
        with filesystem.open_input_file(inner) as f:
            head = io.BufferedReader(f).readline(65536)
    except FileNotFoundError:
        raise InputError(f"--input_file {path}: file not found") from None
    except (OSError, pyarrow.ArrowException) as err:  # a directory, permissions, an unknown scheme, a store's refusal
        raise InputError(f"--input_file {path} cannot be read: {err}") from None
    if b"text_a" in head.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n").split(b"\t"):
        raise InputError(f"--input_file {path} is a TSV with a header: --engine ray reads one text a line; give it "
                         "the text_a column alone (cut -f2 for label<TAB>text_a), or run predict.py without Ray")
    return filesystem.get_file_info(inner).size


def read_range(path, start, end, block_lines=BLOCK_LINES):
    """The lines beginning at byte offsets in [start, end), as pyarrow tables of (text, offset, problem) rows."""
    import pyarrow

    filesystem, inner = _open(path)
    with filesystem.open_input_file(inner) as native:
        native.seek(max(0, start - 1))
        f, offset = io.BufferedReader(native, 2**20), start
        if start > 0:  # the line under way at `start` belongs to the range before
            offset = start - 1 + len(f.readline())
        texts, offsets, problems = [], [], []
        while offset < end:
            raw = f.readline()
            if not raw:
                break
            line = raw[:-1] if raw.endswith(b"\n") else raw
            line = line[:-1] if line.endswith(b"\r") else line
            if offset == 0 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            try:
                text, problem = line.decode("utf-8"), ""
            except UnicodeDecodeError as err:
                text, problem = "", f"not UTF-8 ({err.reason} at byte {err.start} of the line)"
            texts.append(text)
            offsets.append(offset)
            problems.append(problem)
            offset += len(raw)
            if len(texts) == block_lines:
                yield pyarrow.table({"text": texts, "offset": offsets, "problem": problems})
                texts, offsets, problems = [], [], []
        if texts:
            yield pyarrow.table({"text": texts, "offset": offsets, "problem": problems})


def line_ranges(path, range_bytes=None):
    """A Ray Data datasource of the file's lines, one read task per range of range_bytes (RANGE_BYTES)."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    size, range_bytes = input_size(path), range_bytes or RANGE_BYTES

    class LineRanges(Datasource):
        def estimate_inmemory_data_size(self):
            return size

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            bounds = [min(size, i * range_bytes) for i in range(max(1, math.ceil(size / range_bytes)) + 1)]
            return [ReadTask(partial(read_range, path, start, end),
                             BlockMetadata(num_rows=None, size_bytes=end - start, exec_stats=None, input_files=(path,)))
                    for start, end in zip(bounds, bounds[1:])]

    return LineRanges()


class Scorer:
    """A Ray worker: loads the Predictor once, then turns each batch of (text, offset, problem) rows into one row: the
    batch's output lines (to_lines(texts, label_names, best, scores, logits or None): predict.py's JSON lines), the
    count of texts in them, the lines skipped as (offset, problem) pairs, and the batch's last offset. (Lines made
    here and sent as one string cost the driver and Ray's transfers far less than a row a text.)"""

    def __init__(self, model_dir, runtime, to_lines, with_logits):
        self.predictor = Predictor.from_settings(model_dir, runtime)
        self.to_lines, self.with_logits = to_lines, with_logits

    def __call__(self, batch):
        texts, offsets = batch["text"].tolist(), batch["offset"].tolist()
        problems = [problem or text_problem(text) for text, problem in zip(texts, batch["problem"].tolist())]
        good = [text for text, problem in zip(texts, problems) if not problem]
        best, scores, logits = self.predictor.label_scores(good)
        lines = self.to_lines(good, self.predictor.label_names, best, scores, logits if self.with_logits else None)
        skipped = [[offset, problem] for offset, problem in zip(offsets, problems) if problem]
        return {"lines": [lines], "texts": [len(good)], "skipped": [json.dumps(skipped)], "end": [offsets[-1]]}


def start(address=None, num_cpus=None):
    """Join the cluster at `address`, or start an embedded local one (of num_cpus CPUs; default: all), unless this
    process is connected already. Local workers import this very package (a checkout run without installing it, too);
    an existing cluster's nodes need it installed: pip install ".[deploy,ray]". Returns the cluster's CPUs."""
    import ray

    if ray.is_initialized():
        pass
    elif address:
        ray.init(address=address, log_to_driver=False)
    else:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
    return ray.cluster_resources().get("CPU", 0)


def stop():
    import ray

    ray.shutdown()


def scored_batches(input_path, model_dir, runtime: RuntimeSettings, ray_settings: RaySettings, to_lines,
                   with_logits=False, scorer=Scorer):
    """The input scored on Ray, in input order: dicts of a batch's output lines, its count of texts, its skipped
    lines [(byte offset, problem)] and the byte offset of its last line (see Scorer)."""
    import ray
    from ray.data import DataContext

    start(ray_settings.address)
    context = DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    workers = ray_settings.num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // runtime.cpu_threads)
    # Reading takes no CPU of its own: the workers hold the cluster's CPUs, and a read task waiting for one would wait
    # for ever.
    dataset = ray.data.read_datasource(line_ranges(input_path), num_cpus=0,
                                       concurrency=math.ceil(workers / WORKERS_A_READER)).map_batches(
        scorer, fn_constructor_args=(model_dir, runtime, to_lines, with_logits), batch_size=runtime.batch_size * 32,
        batch_format="numpy", concurrency=workers, num_cpus=runtime.cpu_threads)
    for row in dataset.iter_rows():
        yield {**row, "skipped": json.loads(row["skipped"])}
