"""Serving an exported deployment directory: raw text in, {"text", "label", "score"} out.

Loads only the exported program, its .pdiparams (or the ONNX file, or the compiled student's .npz) and the vocabulary,
never a pickle, and only after
checking each against the SHA-256 in manifest.json. One Predictor backs predict.py, serve.py and the benchmark, so
tokenization and inference exist once.
"""
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from ..data.batching import length_sorted_batches
from ..errors import InputError
from .manifest import AUTO, BACKEND_FILES, BACKENDS, KERNEL_FILE, MODEL_PREFIX, ExportError, Manifest

DEFAULT_MAX_CHARS = 2000  # serve.py's limit on one text: requests over it are refused (predict.py truncates instead)


def text_problem(text, max_chars=None):
    """Why a text cannot be predicted (a short message), or None when it can."""
    if isinstance(text, str) and text.isprintable() and text and not text.isspace() \
            and (max_chars is None or len(text) <= max_chars):
        return None  # (the common case, at once: printable excludes control, format and surrogate characters)
    if not isinstance(text, str):
        return f"expected a string, got {type(text).__name__}"
    if not text.strip():
        return "empty or whitespace-only text"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # JSON's "\ud800" or undecodable command-line bytes
        return f"not valid Unicode: lone surrogate {text[err.start]!r} at character {err.start}"
    if all(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in text):  # (stops at the first letter)
        return "no text, only control characters (such as NUL)"
    if max_chars is not None and len(text) > max_chars:
        return f"text has {len(text)} characters, over the limit of {max_chars}"
    return None


def choose_backend(manifest, device):
    """The backend `auto` stands for: a student on a CPU runs its compiled kernel (the fastest, float32-exact), else its
    float ONNX model, else its int8 one, whichever the export holds; anything else runs on Paddle Inference."""
    if manifest.kind == "student" and device == "cpu":
        for backend in ("numba", "onnx", "onnx-int8"):
            if manifest.has_backend(backend):
                return backend
    return "paddle"


def program_file(model_dir):
    """The exported program: the PIR .json of Paddle 3, else the .pdmodel of older Paddle."""
    for ext in (".json", ".pdmodel"):
        path = os.path.join(model_dir, MODEL_PREFIX + ext)
        if os.path.isfile(path):
            return path
    raise ExportError(f"{model_dir} has no {MODEL_PREFIX}.json or {MODEL_PREFIX}.pdmodel; export it with "
                      "export_model.py")


def check_paddle_version(model_dir, manifest):
    """Paddle cannot load a program saved by a newer major version: say so instead of failing inside Paddle."""
    try:
        import paddle
    except ImportError:
        if manifest.kind == "student" and choose_backend(manifest, "cpu") == "paddle":  # nothing else to run it on
            raise InputError(f"{model_dir} has neither the compiled kernel's {KERNEL_FILE} nor an ONNX model, only "
                             "the Paddle program, and Paddle is not installed here: re-export the student with "
                             "export_model.py (a student of one LSTM layer gets the kernel), or install "
                             "Paddle (pip install 'ernie-gram-distill[cpu]', or paddlepaddle-gpu)") from None
        raise InputError("--backend paddle needs Paddle, which is not installed here: use --backend numba, onnx or "
                         "onnx-int8 for a student, or install Paddle") from None

    exported_major, installed_major = int(manifest.paddle_version.split(".")[0]), int(paddle.__version__.split(".")[0])
    if exported_major > installed_major and installed_major != 0:  # 0.0.0 is a develop build
        raise ExportError(f"{model_dir} was exported by Paddle {manifest.paddle_version}, newer than the installed "
                          f"Paddle {paddle.__version__}: install paddlepaddle>={exported_major} or re-export")


class StudentEncoder:
    """The student's own StudentInputs (characters or words, and the bag), as saved beside it."""

    def __init__(self, model_dir, max_seq_length, vocab_size):
        from ..models.features import StudentInputs  # (numba: imported for a student only)

        try:
            self.inputs = StudentInputs.load(model_dir)
        except InputError as err:  # a student this version cannot read: the message says what to do
            raise InputError(f"{model_dir}: {err}") from None
        except (ValueError, TypeError) as err:  # a vocabulary or inputs.json that is not what export wrote
            raise ExportError(f"{model_dir}: {err}; re-export with export_model.py") from None
        if vocab_size is not None and len(self.inputs.vocab) != vocab_size:
            raise ExportError(f"{model_dir}/vocab.txt has {len(self.inputs.vocab)} tokens but the model's embedding "
                              f"has {vocab_size} rows: it is not this model's vocabulary; re-export with export_model.py")
        self.inputs.settings.max_seq_length = max_seq_length
        self.mask_token, self.length, self.batch = self.inputs.mask_token, self.inputs.length, self.inputs.batch

    def encode(self, texts):
        return self.inputs.encode_many(texts)


class TeacherEncoder:
    """The transformer's own tokenizer; inputs input_ids and token_type_ids [batch, seq]."""

    def __init__(self, model_dir, max_seq_length, model_type, vocab_size):
        try:  # PaddleNLP is only imported for a teacher, whose tokenizer it provides
            from ..models.teacher import encode, model_classes, pad_batch
        except ImportError as err:
            raise InputError(f"a teacher export needs Paddle and PaddleNLP for its tokenizer ({err}): install Paddle "
                             "(pip install paddlepaddle, or its GPU build), then pip install "
                             "'ernie-gram-distill[train]'; only a student is served without Paddle") from None

        self._encode, self._pad = encode, pad_batch
        self.tokenizer = model_classes(model_type)[1].from_pretrained(model_dir)
        self.mask_token = self.tokenizer.mask_token
        if vocab_size is not None and len(self.tokenizer) > vocab_size:
            raise ExportError(f"{model_dir}: the tokenizer has {len(self.tokenizer)} tokens but the model's embedding "
                              f"only {vocab_size} rows: it is not this model's tokenizer; re-export with "
                              "export_model.py")
        self.max_seq_length = max_seq_length

    def encode(self, texts):
        return self._encode(self.tokenizer, texts, self.max_seq_length)

    @staticmethod
    def length(encoded):
        return len(encoded[0])

    def batch(self, encoded):
        input_ids, token_type_ids = self._pad(encoded, self.tokenizer.pad_token_id)
        return {"input_ids": input_ids, "token_type_ids": token_type_ids}


class PaddleRunner:
    def __init__(self, model_dir, device, cpu_threads, use_mkldnn, bf16=False):
        import paddle.inference as paddle_infer

        config = paddle_infer.Config(program_file(model_dir), os.path.join(model_dir, MODEL_PREFIX + ".pdiparams"))
        config.disable_glog_info()
        if device == "gpu":
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(cpu_threads)
            config.enable_mkldnn() if use_mkldnn or bf16 else config.disable_mkldnn()
            if bf16:  # oneDNN's bfloat16 kernels, on CPUs with AVX-512 BF16 or AMX
                config.enable_mkldnn_bfloat16()
        self.predictor = paddle_infer.create_predictor(config)
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])

    def __call__(self, inputs):
        for name in self.predictor.get_input_names():
            self.predictor.get_input_handle(name).copy_from_cpu(inputs[name])
        self.predictor.run()
        return self.output.copy_to_cpu()


class OnnxRunner:
    def __init__(self, model_dir, device, cpu_threads, backend="onnx"):
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError(f"--backend {backend} needs ONNX Runtime: pip install 'ernie-gram-distill[deploy]', or "
                             "leave out --backend") from None

        name = next(iter(BACKEND_FILES[backend]))
        path = os.path.join(model_dir, name)
        if not os.path.isfile(path):
            flag = "--quantize int8" if backend == "onnx-int8" else "--onnx"
            raise ExportError(f"{model_dir} has no {name}; re-export with `export_model.py ... {flag}`")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = cpu_threads, 1
        options.log_severity_level = 3  # errors only: paddle2onnx leaves harmless unused-initializer warnings
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "gpu" else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(path, options, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs):
        return self.session.run(None, {name: inputs[name] for name in self.input_names})[0]


def in_order(futures, then=lambda result: result):
    """then(result) of each future, in order. If anything fails, or Ctrl-C comes, the futures not yet started are
    cancelled: an interrupted call stops within a window instead of running every window left."""
    try:
        return [then(future.result()) for future in futures]
    finally:
        for future in futures:
            future.cancel()


@dataclass
class RuntimeSettings:
    """How a Predictor runs a model: predict.py's and serve.py's runtime flags."""

    backend: str = AUTO
    device: str = "cpu"
    cpu_threads: int = 2
    batch_size: int = 32
    max_seq_length: Optional[int] = None  # default: the exported length


class Predictor:
    """Batched prediction over an exported directory; texts are sorted by length inside each window."""

    WINDOW_BATCHES = 4  # batches a model thread encodes and runs at a time

    def __init__(self, model_dir, backend=AUTO, device="cpu", cpu_threads=2, batch_size=32, max_seq_length=None,
                 use_mkldnn=None):
        if backend != AUTO and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose {AUTO} or one of {', '.join(BACKENDS)}")
        self.manifest = manifest = Manifest.read(model_dir)
        self.backend = backend = choose_backend(manifest, device) if backend == AUTO else backend
        self.max_seq_length = max_seq_length or manifest.max_seq_length
        if manifest.max_input_length is not None and self.max_seq_length > manifest.max_input_length:
            raise InputError(f"--max_seq_length {self.max_seq_length} is over the {manifest.max_input_length} tokens "
                             f"this {manifest.kind} accepts; use at most {manifest.max_input_length}")
        if backend == "numba" and manifest.kind != "student":
            raise InputError(f"--backend numba runs students only, and {model_dir} is a {manifest.kind}: leave out "
                             "--backend (auto: Paddle Inference for a teacher), or use --backend onnx for one exported "
                             "with --onnx")
        if backend == "numba" and device != "cpu":
            raise InputError("--backend numba runs on the CPU: use --device cpu, or --backend paddle or onnx for a GPU")
        manifest.verify_files(model_dir, backend)
        self.batch_size, self.label_names = batch_size, manifest.label_names
        if manifest.kind == "student":
            self.encoder = StudentEncoder(model_dir, self.max_seq_length, manifest.vocab_size)
        else:
            self.encoder = TeacherEncoder(model_dir, self.max_seq_length, manifest.model_type, manifest.vocab_size)
        if use_mkldnn is None:  # oneDNN speeds up the transformer a lot, and does nothing for the LSTM
            use_mkldnn = manifest.kind == "teacher"
        # A student's LSTM gains little from a second thread inside one call (1.35x at batch 32); ONNX Runtime sessions
        # and the numba kernel take concurrent calls, so its batches run on cpu_threads threads of one thread each.
        parallel = (backend.startswith("onnx") or backend == "numba") and manifest.kind == "student" \
            and device == "cpu" and cpu_threads > 1
        if backend == "numba":
            from .student_kernel import StudentKernel

            inputs = self.encoder.inputs
            self.runner = StudentKernel(model_dir, len(inputs.vocab), len(inputs.ngrams or []), len(self.label_names))
        elif backend.startswith("onnx"):
            self.runner = OnnxRunner(model_dir, device, 1 if parallel else cpu_threads, backend)
        else:
            check_paddle_version(model_dir, manifest)
            self.runner = PaddleRunner(model_dir, device, cpu_threads, use_mkldnn, bf16=backend == "paddle-bf16")
        self.model_threads = cpu_threads if parallel else 1
        self.model_pool = ThreadPoolExecutor(cpu_threads, thread_name_prefix="model") if parallel else None

    @classmethod
    def from_settings(cls, model_dir, runtime):
        return cls(model_dir, **asdict(runtime))

    def logits(self, texts):
        """Logits in input order. Encoding holds the GIL and the model runtimes release it, so with several model
        threads each one takes windows of texts from encoding to logits: while one encodes, the others run the model.
        With one, a helper thread encodes the next window while the model runs on this one."""
        if self.model_pool is not None:
            return self._on_model_threads(lambda window: self._batched_logits(self.encoder.encode(window)), texts)
        window = self.batch_size * 16
        chunks = [texts[start : start + window] for start in range(0, len(texts), window)]
        if len(chunks) <= 1:
            return self._batched_logits(self.encoder.encode(texts))
        with ThreadPoolExecutor(1) as encoder_thread:
            encoded = [encoder_thread.submit(self.encoder.encode, chunk) for chunk in chunks]
            return np.concatenate(in_order(encoded, self._batched_logits))

    def encoded_logits(self, encoded):
        """Logits of texts already encoded (the benchmark times the model apart from encoding)."""
        if self.model_pool is not None:
            return self._on_model_threads(self._batched_logits, encoded)
        return self._batched_logits(encoded)

    def _on_model_threads(self, window_logits, items):
        """window_logits over windows of items on the model threads at once, concatenated. Each thread gets as many
        windows, of at most WINDOW_BATCHES batches (no window runs alone at the end), or one for a small call (what the
        server gathers); a call of one window runs on the calling thread, where a hand-off would only add latency."""
        rounds = max(1, -(-len(items) // (self.model_threads * self.batch_size * self.WINDOW_BATCHES)))
        size = max(1, -(-len(items) // (rounds * self.model_threads)))
        if len(items) <= size:
            return window_logits(items)
        windows = [items[start : start + size] for start in range(0, len(items), size)]
        return np.concatenate(in_order([self.model_pool.submit(window_logits, window) for window in windows]))

    def _batched_logits(self, encoded):
        """Logits of encoded texts in input order, run in batches of similar length."""
        logits = np.zeros((len(encoded), len(self.label_names)), dtype="float32")
        for rows in length_sorted_batches([self.encoder.length(e) for e in encoded], self.batch_size):
            logits[rows] = self.runner(self.encoder.batch([encoded[i] for i in rows]))
        return logits

    def __call__(self, texts):
        """Taskflow-style: a text, or a list of texts -> [{"text", "label", "score"}], as predict.py prints them."""
        return self.predict([texts] if isinstance(texts, str) else list(texts))

    def label_scores(self, texts):
        """Arrays of each text's predicted label (an index into label_names), its score (the softmax probability of that
        label) and its logits."""
        best, probs, logits = self.label_probabilities(texts)
        return best, probs[np.arange(len(best)), best], logits

    def label_probabilities(self, texts):
        """Arrays of each text's predicted label (an index into label_names), every label's softmax probability (in
        label order) and its logits."""
        logits = self.logits(texts)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return probs.argmax(axis=1), probs, logits

    def predict(self, texts, with_logits=False, with_probabilities=False):
        """[{"text", "label", "score"}] with the softmax probability of the predicted label as score (6 decimals);
        with_logits adds "logits", every label's logit in label order (exact float32 values, as distill_lstm.py
        --teacher_outputs reads them); with_probabilities adds "probabilities", {label: probability} of every label in
        label order (6 decimals, as the score)."""
        best, probs, logits = self.label_probabilities(texts)
        results = [{"text": t, "label": self.label_names[i], "score": round(s, 6)}
                   for t, i, s in zip(texts, best.tolist(), probs[np.arange(len(best)), best].tolist())]
        if with_logits:
            for result, row in zip(results, logits.tolist()):
                result["logits"] = row
        if with_probabilities:
            for result, row in zip(results, probs.tolist()):
                result["probabilities"] = {name: round(p, 6) for name, p in zip(self.label_names, row)}
        return results
