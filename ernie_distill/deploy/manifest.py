"""manifest.json, the description of an exported directory: the one place its keys are written, read and checked.

export_model.py writes it; the Predictor (predict.py, serve.py, the benchmark) reads it and, before loading anything,
checks every file it will load against the SHA-256 recorded here. Format 2 added `vocab_size` and
`max_input_length` to format 1, which is still read (those two are then unknown, or taken conservatively).
"""
import dataclasses
import hashlib
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Optional

from ..atomic import write_json
from ..errors import InputError

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 2
MODEL_PREFIX = "inference"  # inference.json (Paddle 3 PIR) or inference.pdmodel (older Paddle), inference.pdiparams
ONNX_FILE = "inference.onnx"
INT8_ONNX_FILE = "inference.int8.onnx"  # export_model.py --quantize int8
KERNEL_FILE = "inference.npz"  # a student's weights for the compiled kernel (student_kernel.py)
# What each backend loads besides the vocabulary: a backend never reads (or hashes) the other backend's files.
BACKEND_FILES = {
    "paddle": {f"{MODEL_PREFIX}.json", f"{MODEL_PREFIX}.pdmodel", f"{MODEL_PREFIX}.pdiparams"},
    "paddle-bf16": {f"{MODEL_PREFIX}.json", f"{MODEL_PREFIX}.pdmodel", f"{MODEL_PREFIX}.pdiparams"},  # oneDNN bf16
    "onnx": {ONNX_FILE},
    "onnx-int8": {INT8_ONNX_FILE},
    "numba": {KERNEL_FILE},
}
BACKENDS = tuple(BACKEND_FILES)
AUTO = "auto"  # the default backend: inference.choose_backend picks one of BACKENDS for the export and the device


class ExportError(InputError):
    """A directory that is not a usable exported model; the message says what is wrong and what to do."""


@dataclass
class Manifest:
    kind: str  # "student" or "teacher"
    model_type: str  # "bilstm", or the teacher's --model_type ("ernie-gram", ...)
    max_seq_length: int  # input length in tokens the model was exported with: the Predictor's default
    labels: list  # label values as written in the data files, e.g. ["0", "1"]
    label_names: list  # what the predictions call them, in the same order, e.g. ["negative", "positive"]
    inputs: list  # the exported program's input names
    num_parameters: int
    files: dict  # file name -> SHA-256, for every file of the directory but this one
    paddle_version: str
    python: str
    source_dir: str  # the best_model directory it was exported from
    vocab_size: Optional[int] = None  # rows of the token embedding (None: format 1, unknown)
    max_input_length: Optional[int] = None  # longest input in tokens (a transformer's position table); None: any
    dev_accuracy: Optional[float] = None
    mode: Optional[str] = None  # a student's training mode
    pretrained: Optional[bool] = None  # False: the teacher (or a student's teacher) was never pretrained
    task_name: Optional[str] = None  # the task it was trained on (None: exported before it was recorded)
    parity: dict = field(default_factory=dict)  # check -> max |logit difference| measured at export
    format_version: int = FORMAT_VERSION

    def untrained_warning(self):
        """What predict.py and serve.py warn of at load (None for a model that learnt from a pretrained teacher, or
        from labels alone): a model whose teacher was never pretrained (QUICK=1) answers at random."""
        if self.pretrained is not False:
            return None
        whose = ("this teacher was never pretrained" if self.kind == "teacher" else
                 "this student learnt from a teacher that was never pretrained")
        return (f"{whose} (random initial weights, as QUICK=1 and scripts/make_tiny_teacher.py make them): its "
                "predictions only show that the chain works and say nothing about the texts; a teacher fine-tuned "
                "from a pretrained model (run_glue.py --model_name_or_path ernie-gram-zh, on a GPU with internet; "
                "bash scripts/run_all.sh for ChnSentiCorp) makes a real one")

    def write(self, model_dir):
        write_json(os.path.join(model_dir, MANIFEST_FILE), dataclasses.asdict(self))

    @classmethod
    def read(cls, model_dir):
        """The manifest of an exported directory, checked key by key; a problem is an ExportError saying what to do."""
        path = os.path.join(model_dir, MANIFEST_FILE)
        if not os.path.isdir(model_dir):
            raise ExportError(f"{model_dir} does not exist")
        if not os.path.isfile(path):
            trained = any(os.path.isfile(os.path.join(model_dir, name)) for name in ("config.json", "student_config.json"))
            source = model_dir if trained else "BEST_MODEL"  # a trained model's dir: export it somewhere else
            raise ExportError(f"{model_dir} is not an exported model (no {MANIFEST_FILE}); export one with "
                              f"`python export_model.py --model_dir {source} --output_path NEW_EXPORT_DIR` and pass "
                              "NEW_EXPORT_DIR")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (ValueError, RecursionError) as err:
            raise ExportError(f"{path} is not valid JSON ({err}); re-export with export_model.py") from None
        if not isinstance(data, dict) or not isinstance(data.get("format_version"), int):
            raise ExportError(f"{path} has no format_version; re-export with export_model.py")
        if data["format_version"] > FORMAT_VERSION:
            raise ExportError(f"{model_dir} was exported by a newer version of this project (format "
                              f"{data['format_version']}); update the code or re-export")
        if data["format_version"] == 1:
            data = _from_format_1(data)
        problems = [_field_problem(f, data) for f in dataclasses.fields(cls)]
        problems = [p for p in problems if p]
        if not problems and len(data["labels"]) != len(data["label_names"]):
            problems.append(f"{len(data['labels'])} labels but {len(data['label_names'])} label_names")
        if problems:
            raise ExportError(f"{path}: {'; '.join(problems)}; re-export with export_model.py")
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})

    def backend_files(self, backend):
        """The listed files `backend` loads: all but the other backends' model files."""
        others = set().union(*(names for name, names in BACKEND_FILES.items() if name != backend))
        others -= BACKEND_FILES[backend]  # paddle and paddle-bf16 load the same files
        return sorted(set(self.files) - others)

    def has_backend(self, backend):
        """Whether the export holds the files `backend` loads (paddle: a program in either format)."""
        return bool(BACKEND_FILES[backend] & set(self.files))

    def verify_files(self, model_dir, backend):
        """Check every listed file `backend` loads against its SHA-256 (1.5 GB/s: 11 ms for the default student)."""
        unlisted = sorted(name for name in BACKEND_FILES[backend] - set(self.files)
                          if os.path.exists(os.path.join(model_dir, name)))
        if unlisted:
            raise ExportError(f"{os.path.join(model_dir, unlisted[0])} is not listed in {MANIFEST_FILE}, so it cannot "
                              "be verified; re-export with export_model.py")
        for name in self.backend_files(backend):
            path = os.path.join(model_dir, name)
            if not os.path.isfile(path):
                raise ExportError(f"{path} is missing (listed in {MANIFEST_FILE}); re-export with export_model.py")
            if sha256_of(path) != self.files[name]:
                raise ExportError(f"{path} does not match its SHA-256 in {MANIFEST_FILE}: the file was changed or "
                                  "damaged after export; re-export with export_model.py")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _from_format_1(data):
    """Format 1 lacks vocab_size (left unknown) and max_input_length: a teacher is held to its export length."""
    limit = data.get("max_seq_length") if data.get("kind") == "teacher" else None
    return {**data, "max_input_length": limit, "format_version": FORMAT_VERSION}


def _field_problem(spec, data):
    """Why data lacks a valid value for a Manifest field (a short phrase), or None."""
    if spec.name not in data:
        has_default = spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING
        return None if has_default else f"missing key {spec.name!r}"
    if not _has_type(data[spec.name], spec.type):
        expected = spec.type.__name__ if isinstance(spec.type, type) else str(spec.type).replace("typing.", "")
        return f"{spec.name!r} is {data[spec.name]!r}, not {expected}"
    return None


def _has_type(value, annotation):
    if typing.get_origin(annotation) is typing.Union:
        return any(_has_type(value, option) for option in typing.get_args(annotation))
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)
