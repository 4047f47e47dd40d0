"""HTTP prediction service for an exported model (export_model.py's output), with FastAPI and uvicorn.

    python serve.py --model_dir tmp/export/student --port 8189
    curl -s localhost:8189/predict -H 'Content-Type: application/json' -d '{"texts": ["这家酒店服务很好", "太差了"]}'

POST /predict takes {"texts": [...]} (or PaddleNLP SimpleServer's {"data": {"text": [...]}}) and answers
{"results": [{"text", "label", "score"}, ...]}; GET /health says which model is loaded. Every bad request gets a
4xx with {"error", "field"}; a client gets --request_timeout seconds for a request's headers and as long again for its
body. The model is loaded once and shared, through the same Predictor as predict.py; the texts of concurrent requests
are gathered into one model call (up to --batch_texts texts, waiting at most --batch_wait_ms for them).
"""
import asyncio
import json
import socket
import sys

import h11
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.protocols.http.h11_impl import H11Protocol

from ernie_distill.cli import ArgumentParser, add_runtime_arguments, bounded, positive_float, positive_int, run_cli
from ernie_distill.errors import InputError
from ernie_distill.inference import DEFAULT_MAX_CHARS, Predictor, text_problem
from ernie_distill.log import logger
from ernie_distill.micro_batching import MicroBatcher

DEFAULT_REQUEST_TIMEOUT = 10.0


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--model_dir", required=True, help="a directory written by export_model.py")
    network = parser.add_argument_group("network")
    network.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept other machines")
    network.add_argument("--port", type=bounded(int, 0, 65535), default=8189, help="0: any free port")
    network.add_argument("--request_timeout", type=positive_float, default=DEFAULT_REQUEST_TIMEOUT,
                         help="seconds a client has to send a request's headers, and again its body")
    limits = parser.add_argument_group("request limits")
    limits.add_argument("--max_texts", type=positive_int, default=256, help="texts per request")
    limits.add_argument("--max_chars", type=positive_int, default=DEFAULT_MAX_CHARS, help="characters per text")
    batching = parser.add_argument_group("micro-batching of concurrent requests")
    batching.add_argument("--batch_texts", type=positive_int, default=64, help="texts per model call, at most")
    batching.add_argument("--batch_wait_ms", type=bounded(float, 0, 1000), default=2.0,
                          help="how long a request waits for others to share its model call (0: only those queued)")
    add_runtime_arguments(parser)
    return parser.parse_args(argv)


class RequestError(ValueError):
    def __init__(self, status, field, message):
        super().__init__(message)
        self.status, self.field = status, field


def error_response(status, field, message, **kwargs):
    return JSONResponse({"error": message, "field": field}, status, **kwargs)


def parse_texts(body, max_texts, max_chars):
    """The list of texts in a request body, or a RequestError naming the field that is wrong."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(400, "body", f"request body is not valid UTF-8 ({err.reason} at byte {err.start})")
    except json.JSONDecodeError as err:
        raise RequestError(400, "body", f"request body is not valid JSON: {err}") from None
    except RecursionError:
        raise RequestError(400, "body", "request body is JSON nested too deeply") from None
    except ValueError:  # Python refuses to convert integers this long
        limit = sys.get_int_max_str_digits()
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
    return texts


def create_app(predictor, max_texts=256, max_chars=DEFAULT_MAX_CHARS, request_timeout=DEFAULT_REQUEST_TIMEOUT,
               batch_texts=64, batch_wait_ms=2.0):
    app = FastAPI(title="ernie-gram-distill", description=__doc__)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, err):  # 404, 405, ...: the same {"error", "field"} shape as every other answer
        return error_response(err.status_code, "path", f"{request.method} {request.url.path}: {err.detail}")
    batcher = MicroBatcher(predictor.predict, batch_texts, batch_wait_ms)
    max_body_bytes = max_texts * (max_chars * 4 + 16) + 1024  # UTF-8 is at most 4 bytes a character

    @app.get("/health")
    def health():
        manifest = predictor.manifest
        return {"status": "ok", "kind": manifest.kind, "model_type": manifest.model_type,
                "labels": manifest.label_names, "dev_accuracy": manifest.dev_accuracy, "model_calls": batcher.calls,
                "texts_predicted": batcher.texts}

    async def read_body(request):
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_body_bytes:
                raise RequestError(413, "body", f"request body over {max_body_bytes} bytes")
        return bytes(body)

    @app.post("/predict")
    async def predict(request: Request):
        try:
            body = await asyncio.wait_for(read_body(request), request_timeout)
            texts = parse_texts(body, max_texts, max_chars)
        except asyncio.TimeoutError:
            return error_response(408, "body", f"request body not received within {request_timeout:g} s",
                                  headers={"Connection": "close"})
        except RequestError as err:
            return error_response(err.status, err.field, str(err))
        return {"results": await batcher.submit(texts)}

    return app


def header_timeout_protocol(seconds):
    """uvicorn's h11 protocol, closing a connection whose next request's headers are not all in within `seconds`.

    uvicorn bounds only the idle time between requests (timeout_keep_alive), which every byte resets: a client
    trickling a header line now and then would hold its connection forever.
    """

    class HeaderTimeoutProtocol(H11Protocol):
        header_deadline = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self.start_header_deadline()

        def on_response_complete(self):
            super().on_response_complete()
            self.start_header_deadline()

        def connection_lost(self, exc):
            self.header_deadline.cancel()
            super().connection_lost(exc)

        def start_header_deadline(self):
            if self.header_deadline is not None:
                self.header_deadline.cancel()
            self.header_deadline = self.loop.call_later(seconds, self.on_header_deadline)

        def on_header_deadline(self):
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # headers still incomplete
                self.transport.close()

    return HeaderTimeoutProtocol


def listening_socket(host, port):
    """A socket bound to (host, port), or an InputError saying why not: a busy port fails before anything is logged."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


def main(argv=None):
    args = parse_args(argv)
    sock = listening_socket(args.host, args.port)
    predictor = Predictor.from_args(args)
    app = create_app(predictor, args.max_texts, args.max_chars, args.request_timeout, args.batch_texts,
                     args.batch_wait_ms)
    config = uvicorn.Config(app, log_level="warning", http=header_timeout_protocol(args.request_timeout))
    host, port = sock.getsockname()[:2]
    logger.info("serving the %s from %s on http://%s:%d (POST /predict, GET /health)", predictor.manifest.kind,
                args.model_dir, host, port)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(run_cli(main))
