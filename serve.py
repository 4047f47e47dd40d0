"""HTTP prediction service for an exported model (export_model.py's output), with FastAPI and uvicorn.

    python serve.py --model_dir tmp/export/student --port 8189
    curl -s localhost:8189/predict -H 'Content-Type: application/json' -d '{"texts": ["这家酒店服务很好", "太差了"]}'

POST /predict takes {"texts": [...]} (or PaddleNLP SimpleServer's {"data": {"text": [...]}}) and answers
{"results": [{"text", "label", "score"}, ...]}; GET /health says which model is loaded. Every bad request gets a
4xx with a message naming the field; the model is loaded once and shared, through the same Predictor as predict.py.
"""
import argparse
import json
import threading

import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ernie_distill.cli import add_runtime_arguments, run_cli
from ernie_distill.inference import DEFAULT_MAX_CHARS, Predictor, text_problem
from ernie_distill.log import logger


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="a directory written by export_model.py")
    network = parser.add_argument_group("network")
    network.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept other machines")
    network.add_argument("--port", type=int, default=8189)
    limits = parser.add_argument_group("request limits")
    limits.add_argument("--max_texts", type=int, default=256, help="texts per request")
    limits.add_argument("--max_chars", type=int, default=DEFAULT_MAX_CHARS, help="characters per text")
    add_runtime_arguments(parser)
    return parser.parse_args(argv)


class RequestError(ValueError):
    def __init__(self, status, field, message):
        super().__init__(message)
        self.status, self.field = status, field


def parse_texts(body, max_texts, max_chars):
    """The list of texts in a request body, or a RequestError naming the field that is wrong."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(400, "body", f"request body is not valid UTF-8 ({err.reason} at byte {err.start})")
    except json.JSONDecodeError as err:
        raise RequestError(400, "body", f"request body is not valid JSON: {err}")
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


def create_app(predictor, max_texts=256, max_chars=DEFAULT_MAX_CHARS):
    app = FastAPI(title="ernie-gram-distill", description=__doc__)
    lock = threading.Lock()  # one inference at a time: a Paddle predictor is not thread-safe
    max_body_bytes = max_texts * (max_chars * 4 + 16) + 1024  # UTF-8 is at most 4 bytes a character

    def predict_locked(texts):
        with lock:
            return predictor.predict(texts)

    @app.get("/health")
    def health():
        manifest = predictor.manifest
        return {"status": "ok", "kind": manifest.kind, "model_type": manifest.model_type,
                "labels": manifest.label_names, "dev_accuracy": manifest.dev_accuracy}

    @app.post("/predict")
    async def predict(request: Request):
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_body_bytes:
                return JSONResponse({"error": f"request body over {max_body_bytes} bytes", "field": "body"}, 413)
        try:
            texts = parse_texts(bytes(body), max_texts, max_chars)
        except RequestError as err:
            return JSONResponse({"error": str(err), "field": err.field}, err.status)
        return {"results": await run_in_threadpool(predict_locked, texts)}

    return app


def main(argv=None):
    args = parse_args(argv)
    predictor = Predictor.from_args(args)
    app = create_app(predictor, args.max_texts, args.max_chars)
    logger.info("serving the %s from %s on http://%s:%d (POST /predict, GET /health)", predictor.manifest.kind,
                args.model_dir, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
