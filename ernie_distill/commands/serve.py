"""HTTP prediction service for an exported model (export_model.py's output), on the package's small HTTP/1.1 server.

    python serve.py --model_dir tmp/export/student --port 8189
    curl -s localhost:8189/predict -H 'Content-Type: application/json' -d '{"texts": ["这家酒店服务很好", "太差了"]}'

Installed with the package (pip install ".[deploy]"), the same command is `ernie-distill-serve`.

POST /predict takes {"texts": [...]} (or PaddleNLP SimpleServer's {"data": {"text": [...]}}) and answers
{"results": [{"text", "label", "score"}, ...]} (Content-Type: application/json only: 415 otherwise), each result with
"probabilities" ({label: probability} of every label) when the request has "probabilities": true. GET / is a page to
try the model in a browser (--no_ui: none, a 404 as for any other unknown path); GET /health says
which model is loaded (liveness), GET /ready is 503 while the server drains (readiness). Every bad request gets a 4xx
with {"error", "field"}; a client gets --request_timeout seconds for a request's headers and as long again for its
body, and as long to read its answers once they pile up unread; past --max_buffered_mb of request bodies held at once,
a large body gets 503. SIGTERM drains the server: the connections already queued in the kernel accepted, no new ones,
every request already received answered (the last answer of a connection with Connection: close), exit 0 within
--graceful_timeout seconds. The model is loaded once and shared, through the same Predictor as predict.py; the texts
of concurrent requests are gathered into one model call (up to --batch_texts texts, waiting at most --batch_wait_ms
for them). --workers N runs N server processes on the one port, each with its own model and --cpu_threads / N
threads: one process does its HTTP and encoding under one GIL.
"""
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

from ..cli import (ArgumentParser, Terminated, add_runtime_arguments, bounded, existing_dir, positive_float,
                   positive_int, raise_if_terminated, run_cli, settings_from, terminated)
from ..errors import InputError, missing_dependency

try:  # httptools comes with the [deploy] extra; without it --help still works, and main() says what to install
    from ..serving.http_server import BACKLOG, ServerState, error, serve_forever
    from ..serving.metrics import ServingMetrics
    from ..serving.page import load_page

    MISSING = None
except ModuleNotFoundError as missing:
    MISSING = missing
from ..deploy.inference import DEFAULT_MAX_CHARS, Predictor, RuntimeSettings, text_problem
from ..log import logger
from ..serving.micro_batching import MicroBatcher

DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_MAX_BUFFERED_MB = 256.0
OTHER_VALUES = 64  # JSON values a request may hold besides its texts (PaddleNLP clients send a few "parameters")


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model_dir", type=existing_dir, required=True, help="a directory written by export_model.py")
    network = parser.add_argument_group("network")
    network.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept other machines")
    network.add_argument("--port", type=bounded(int, 0, 65535), default=8189, help="0: any free port")
    network.add_argument("--graceful_timeout", type=bounded(float, 0, 3600), default=30.0,
                         help="on SIGTERM, seconds to answer the requests already received before exiting")
    network.add_argument("--request_timeout", type=positive_float, default=DEFAULT_REQUEST_TIMEOUT,
                         help="seconds a client has to send a request's headers, and again its body")
    network.add_argument("--workers", type=bounded(int, 1, 64), default=1,
                         help="server processes sharing the port, each with its own model")
    limits = parser.add_argument_group("request limits")
    limits.add_argument("--max_texts", type=positive_int, default=256, help="texts per request")
    limits.add_argument("--max_chars", type=positive_int, default=DEFAULT_MAX_CHARS, help="characters per text")
    limits.add_argument("--max_buffered_mb", type=positive_float, default=DEFAULT_MAX_BUFFERED_MB,
                        help="request bodies held by all connections together (per worker), past which a large body "
                             "gets 503")
    batching = parser.add_argument_group("micro-batching of concurrent requests")
    batching.add_argument("--batch_texts", type=positive_int, default=64, help="texts per model call, at most")
    batching.add_argument("--batch_wait_ms", type=bounded(float, 0, 1000), default=0.0,
                          help="how long a request waits for others to share its model call (0: it takes those that "
                               "queued while the model was busy, and adds no wait)")
    parser.add_argument("--no_ui", action="store_true",
                        help="no page at GET / to try the model in a browser: the JSON API only")
    add_runtime_arguments(parser)
    return parser.parse_args(argv)


@dataclass
class ServeSettings:
    """What the server and each of its worker processes need: serve.py's flags, less the port (a socket is passed)."""

    model_dir: str
    runtime: RuntimeSettings
    host: str = "127.0.0.1"
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    graceful_timeout: float = 30.0
    workers: int = 1
    max_texts: int = 256
    max_chars: int = DEFAULT_MAX_CHARS
    max_buffered_mb: float = DEFAULT_MAX_BUFFERED_MB
    batch_texts: int = 64
    batch_wait_ms: float = 0.0
    no_ui: bool = False


class RequestError(ValueError):
    def __init__(self, status, field, message):
        super().__init__(message)
        self.status, self.field = status, field


def holds_too_many_values(body, limit):
    """Whether the JSON in `body` holds more than about `limit` values, judged at C speed before it is parsed: Python's
    parser spends up to 0.2 µs on a value on the event loop (a 5.8 MB array of [] items held it 0.7 s), while `limit`
    bounds the commas outside strings, and the strings. Escaped backslashes and quotes are dropped first, so the quotes
    left are the strings' ends; a body with no more commas than `limit` at all needs no closer look."""
    if body.count(b",") <= limit:
        return False
    bare = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    if bare.count(b'"') > 4 * limit:  # a key and a value string for each value
        return True
    return sum(outside.count(b",") for outside in bare.split(b'"')[::2]) > limit


def parse_request(body, max_texts, max_chars):
    """(the list of texts in a request body, whether it asks for every label's probability), or a RequestError naming
    the field that is wrong."""
    if holds_too_many_values(body, max_texts + OTHER_VALUES):
        raise RequestError(413, "body", f"request body holds over {max_texts + OTHER_VALUES} JSON values: at most "
                                        f"{max_texts} texts per request, and {OTHER_VALUES} other values")
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(400, "body", f"request body is not valid UTF-8 ({err.reason} at byte {err.start})")
    except json.JSONDecodeError as err:
        raise RequestError(400, "body", f"request body is not valid JSON: {err}") from None
    except RecursionError:
        raise RequestError(400, "body", "request body is JSON nested too deeply") from None
    except ValueError:  # Python refuses to convert integers this long
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()  # (Python 3.10.7 and later)
        raise RequestError(400, "body", f"request body has a number over {limit} digits") from None
    if isinstance(payload, dict) and "texts" in payload:
        field, texts = "texts", payload["texts"]
    elif isinstance(payload, dict) and isinstance(payload.get("data"), dict) and "text" in payload["data"]:
        field, texts = "data.text", payload["data"]["text"]  # PaddleNLP SimpleServer's request shape
    else:
        raise RequestError(422, "texts", 'expected a JSON object {"texts": ["...", ...]}')
    if not isinstance(texts, list):
        raise RequestError(422, field, f"{field} must be a list of strings")
    if not texts:
        raise RequestError(422, field, f"{field} is empty")
    if len(texts) > max_texts:
        raise RequestError(413, field, f"{field} has {len(texts)} items, over the limit of {max_texts} per request")
    for i, text in enumerate(texts):
        problem = text_problem(text, max_chars)
        if problem:
            raise RequestError(413 if "over the limit" in problem else 422, f"{field}[{i}]", f"{field}[{i}]: {problem}")
    probabilities = payload.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise RequestError(422, "probabilities", f"probabilities must be true or false, not {probabilities!r}")
    return texts, probabilities


def create_app(predictor, max_texts=256, max_chars=DEFAULT_MAX_CHARS, batch_texts=64, batch_wait_ms=0.0, state=None,
               ui=True):
    """The application: answer(method, path, body, content_type) -> (status, JSON content, extra headers) for POST
    /predict, GET /health (liveness), GET /ready (readiness: 503 once the server drains, `state` being the server's),
    GET /metrics (Prometheus' text format), GET / (the page, with `ui`), and the {"error", "field"} shape for every
    other request."""
    page = load_page() if ui else None
    known_paths = ("/predict", "/health", "/ready", "/metrics") + (("/",) if ui else ())
    prediction_failed = error("prediction failed; the server's log says why", None)  # the model's fault
    metrics = ServingMetrics()
    if state is not None:
        state.on_refused, state.on_disconnected = metrics.refused, metrics.disconnected
    # a student's model calls take milliseconds: on the event loop, with no hand-off to a thread; a teacher's take up to
    # seconds, during which the server must go on reading requests and keeping their deadlines
    batcher = MicroBatcher(lambda texts: predictor.predict(texts, with_probabilities=True), batch_texts, batch_wait_ms,
                           inline=predictor.manifest.kind == "student", on_call=metrics.model_call)
    metrics.queued = batcher.queued

    def health():
        manifest = predictor.manifest
        return {"status": "ok", "kind": manifest.kind, "model_type": manifest.model_type, "backend": predictor.backend,
                "labels": manifest.label_names, "dev_accuracy": manifest.dev_accuracy, "worker_pid": os.getpid(),
                "model_calls": batcher.calls, "texts_predicted": batcher.texts}  # (the counts are this worker's)

    async def predict(body):
        try:
            texts, probabilities = parse_request(body, max_texts, max_chars)
        except RequestError as err:
            return err.status, error(str(err), err.field), []
        try:
            results = await batcher.submit(texts)
        except Exception:  # the model failed (the batcher logged why): say so in the answer's shape, and keep serving
            return 500, prediction_failed, []
        if any(result["score"] != result["score"] for result in results):  # NaN: not JSON, and not a prediction
            logger.error("a prediction was not a number (NaN); answered 500")
            return 500, prediction_failed, []
        if not probabilities:  # (each result is this request's own)
            for result in results:
                del result["probabilities"]
        return 200, {"results": results}, []

    async def answer(method, path, body, content_type):
        started = time.perf_counter()
        if (method, path, content_type) == ("POST", "/predict", "application/json"):
            status, content, headers = await predict(body)
        else:
            status, content, headers = route(method, path, content_type)
        metrics.request(path, status, started)
        return status, content, headers

    def route(method, path, content_type):
        """The answer to anything but a prediction."""
        if (method, path) == ("POST", "/predict"):  # (a web page may POST text/plain across origins unasked)
            return 415, error(f"Content-Type must be application/json, not {content_type or 'missing'}",
                              "content-type"), []
        if method in ("GET", "HEAD") and path == "/health":
            return 200, health(), []
        if method in ("GET", "HEAD") and path == "/ready":
            draining = state is not None and state.draining
            return (503, {"status": "draining"}, []) if draining else (200, {"status": "ready"}, [])
        if method in ("GET", "HEAD") and path == "/metrics":
            exposition, content_type = metrics.exposition()
            return 200, exposition, [(b"content-type", content_type.encode())]
        if page and method in ("GET", "HEAD") and path == "/":
            return 200, page[0], page[1]
        if path in known_paths:
            allowed = b"POST" if path == "/predict" else b"GET, HEAD"
            return 405, error(f"{method} {path}: Method Not Allowed", "path"), [(b"allow", allowed)]
        return 404, error(f"{method} {path}: Not Found", "path"), []

    return answer


# Linux spreads new connections evenly over sockets bound to one port with SO_REUSEPORT; workers sharing one socket
# instead take them as they wake, and one asyncio accept call takes a whole burst (measured: one worker got them all).
REUSE_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host, port, reuse_port=False, check_free=True):
    """A socket bound to (host, port), or an InputError saying why not: a busy port fails before anything is logged.
    Without reuse_port it listens at once: connections made while the model loads wait in the backlog instead of being
    refused, and a second server cannot bind the port meanwhile (two bound sockets that are not yet listening can share
    a port). With reuse_port the port is first bound without SO_REUSEPORT, which fails if anything holds it (another
    serve.py with workers would otherwise share it, and its connections); the workers listen on their own sockets."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        if reuse_port and check_free and port:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if not reuse_port:
            sock.listen(BACKLOG)
    except OSError as err:
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


def serve(settings, sock, predictor=None, ready=None, parent_pid=None, announce=None):
    """Answer requests on `sock` until stopped, logging `announce` (arguments of logger.info) once it accepts them. A
    worker loads its own predictor, binds its own socket when given only the port (SO_REUSEPORT), sets `ready` once it
    listens, and stops when its parent process is gone."""
    if parent_pid is not None:  # a worker: the parent turns Ctrl-C into a SIGTERM for each worker
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=stop_when_orphaned, args=(parent_pid,), daemon=True).start()
    if isinstance(sock, int):  # (the parent holds the port: it is not free, and need not be)
        sock = listening_socket(settings.host, sock, reuse_port=True, check_free=False)
    predictor = predictor or Predictor.from_settings(settings.model_dir, settings.runtime)
    predictor.predict(["好"])  # the segmenter and lookup tables load on first use: not in a client's request
    raise_if_terminated()
    state = ServerState(max_buffered_bytes=int(settings.max_buffered_mb * 2**20))
    app = create_app(predictor, settings.max_texts, settings.max_chars, settings.batch_texts, settings.batch_wait_ms,
                     state, not settings.no_ui)
    # a character is at most 12 bytes of JSON
    max_body_bytes = settings.max_texts * (settings.max_chars * 12 + 16) + 1024
    # (a surrogate pair of \uXXXX escapes, as json.dumps writes a character beyond the BMP by default)
    sock.listen(BACKLOG)  # (a worker's own socket) from here connections wait in the backlog until they are accepted

    def on_listening():
        if ready is not None:
            ready.set()
        if announce:
            logger.info(*announce)

    serve_forever(sock, app, settings.request_timeout, max_body_bytes, on_listening,
                  stop_on_interrupt=parent_pid is None, state=state, graceful_timeout=settings.graceful_timeout,
                  stop_requested=terminated)


def stop_when_orphaned(parent_pid):
    """SIGTERM to this worker once its parent is gone (killed outright, it could not stop its workers): an orphan would
    go on holding the port."""
    while os.getppid() == parent_pid:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def run_workers(settings, sock, on_ready):
    """settings.workers processes serving `sock`'s port, on_ready() called once they all listen; returns when they have
    stopped (SIGTERM / Ctrl-C stops them, and a worker that fails stops the rest)."""
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter each: no model runtime threads forked
    shared = sock.getsockname()[1] if REUSE_PORT else sock  # `sock` itself stays bound, unlistened: it holds the port
    readies = [spawn.Event() for _ in range(settings.workers)]
    workers = [spawn.Process(target=serve, args=(settings, shared, None, ready, os.getpid()), name=f"serve-worker-{i}")
               for i, ready in enumerate(readies)]
    stopping = []

    def stop(*_):
        stopping.append(True)
        for worker in workers:
            if worker.is_alive():
                worker.terminate()

    signal.signal(signal.SIGTERM, stop)  # before any worker starts: a stop while they load must reach them too
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        if not stopping:
            worker.start()
    while not stopping and not all(ready.is_set() for ready in readies) and all(w.is_alive() for w in workers):
        time.sleep(0.05)
    if not stopping and all(ready.is_set() for ready in readies):
        on_ready()
    started = [worker for worker in workers if worker.pid is not None]
    if started:
        multiprocessing.connection.wait([worker.sentinel for worker in started])  # until one of them ends
    failed = [worker for worker in started if worker.exitcode is not None] if not stopping else []
    stop()
    for worker in started:
        worker.join()
    if failed:
        logger.error("%s exited with code %s; stopped the others", failed[0].name, failed[0].exitcode)
        return 1
    return 0


def announcement(predictor, settings, sock):
    """The arguments of the log line that says the server answers."""
    host, port = sock.getsockname()[:2]
    return ("serving the %s from %s on http://%s:%d (POST /predict, GET /health, /ready, /metrics%s), backend %s, "
            "%d worker(s) x %d thread(s)", predictor.manifest.kind, settings.model_dir, host, port,
            "" if settings.no_ui else "; a page to try it: GET /", predictor.backend, settings.workers,
            settings.runtime.cpu_threads)


def main(argv=None):
    args = parse_args(argv)
    if MISSING:
        raise missing_dependency(MISSING) or MISSING
    sock = listening_socket(args.host, args.port, reuse_port=REUSE_PORT and args.workers > 1)
    runtime = settings_from(RuntimeSettings, args, cpu_threads=max(1, args.cpu_threads // args.workers))
    settings = settings_from(ServeSettings, args, runtime=runtime)
    try:  # SIGTERM before the server takes it over (loading, checking the model, warming up, starting workers): a stop
        predictor = Predictor.from_settings(args.model_dir, runtime)
        raise_if_terminated()
        if predictor.manifest.untrained_warning():
            logger.warning(predictor.manifest.untrained_warning())
        message = announcement(predictor, settings, sock)
        if args.workers == 1:
            return serve(settings, sock, predictor, announce=message)
        del predictor
        return run_workers(settings, sock, lambda: logger.info(*message))
    except Terminated:
        logger.info("stopped (SIGTERM) before serving")
        return 0


def run():
    return run_cli(main)
