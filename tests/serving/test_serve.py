"""The real server, started on a free loopback port, spoken to over HTTP (and its application, called directly)."""
import asyncio
import json
import os
import socket
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

from conftest import ROOT, exchange
from ernie_distill.deploy.inference import Predictor
from ernie_distill.commands.serve import create_app
from server_launcher import free_port, running_server

TEXTS = ["房间很干净，服务也好", "太差了，再也不来", "价格真的棒", "好"]


@pytest.fixture(scope="module")
def server(exported_student):
    with running_server(exported_student, "--max_texts", "32", "--request_timeout", "1") as url:
        yield url


def post(url, body, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{url}/predict", data=data, headers={"Content-Type": "application/json"}, timeout=30,
                         **kwargs)


def test_health_names_the_model(server):
    health = requests.get(f"{server}/health", timeout=5).json()
    assert health["status"] == "ok" and health["kind"] == "student" and health["labels"] == ["negative", "positive"]


def test_predictions_match_predict_py(server, exported_student):
    expected = Predictor(exported_student).predict(TEXTS)
    response = post(server, {"texts": TEXTS})
    assert response.status_code == 200 and response.json() == {"results": expected}
    simple_server_shape = post(server, {"data": {"text": TEXTS}, "parameters": {"max_seq_len": 128}})
    assert simple_server_shape.json() == {"results": expected}


def test_every_labels_probability_on_request(server, exported_student):
    expected = Predictor(exported_student).predict(TEXTS)
    results = post(server, {"texts": TEXTS, "probabilities": True}).json()["results"]
    assert [{k: v for k, v in r.items() if k != "probabilities"} for r in results] == expected  # the rest unchanged
    for result in results:
        assert list(result["probabilities"]) == ["negative", "positive"]  # the labels' order
        assert result["probabilities"][result["label"]] == result["score"]
        assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert post(server, {"texts": TEXTS, "probabilities": False}).json() == {"results": expected}


def test_the_page_is_sent_with_a_strict_content_security_policy(server):
    import base64
    import hashlib
    import re

    page = requests.get(server, timeout=5)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    (script,), (style,) = (re.findall(rf"<{tag}>(.*?)</{tag}>", page.text, re.S) for tag in ("script", "style"))
    for source, directive in ((script, "script-src"), (style, "style-src")):  # only the page's own, by hash
        assert policy[directive] == f"'sha256-{base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()}'"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)  # nothing from elsewhere
    head = requests.head(server, timeout=5)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(page.content))
    assert requests.post(server, timeout=5).status_code == 405


def test_no_ui_leaves_the_json_api_alone(exported_student):
    with running_server(exported_student, "--no_ui") as url:
        page = requests.get(url, timeout=5)
        assert page.status_code == 404 and page.json() == {"error": "GET /: Not Found", "field": "path"}
        assert post(url, {"texts": ["好"]}).status_code == 200


@pytest.mark.parametrize("body, status, field", [
    ({"texts": []}, 422, "texts"),
    ({"texts": ["好", "   "]}, 422, "texts[1]"),
    ({"texts": ["好", ""]}, 422, "texts[1]"),
    ({"texts": ["好", 3]}, 422, "texts[1]"),
    ({"texts": "好"}, 422, "texts"),
    ({"text": ["好"]}, 422, "texts"),
    ([1, 2], 422, "texts"),
    ({"texts": ["好"] * 33}, 413, "texts"),
    ({"texts": ["好" * 2001]}, 413, "texts[0]"),
    ('{"texts": ["\\ud800abc"]}', 422, "texts[0]"),  # a lone surrogate: not text, and not encodable in the answer
    ("[" * 100_000 + "]" * 100_000, 400, "body"),  # deeper than Python's JSON parser goes
    ('{"texts": [' + "1" * 5000 + "]}", 400, "body"),  # longer than Python converts to an integer
    ({"data": {"text": ["好", None]}}, 422, "data.text[1]"),
    ({"texts": ["好"], "probabilities": "yes"}, 422, "probabilities"),
    ('{"texts": ["好"', 400, "body"),
    (b'{"texts": ["\xff"]}', 400, "body"),
    (b"x" * 10**6, 413, "body"),
])
def test_invalid_requests_get_4xx_naming_the_field_and_server_keeps_serving(server, body, status, field):
    response = post(server, body)
    assert response.status_code == status and response.json()["field"] == field, response.text
    assert field.split("[")[0] in response.json()["error"] or field == "body"
    assert post(server, {"texts": ["好"]}).status_code == 200


def test_concurrent_requests_are_all_answered_correctly(server, exported_student):
    requests_texts = [[TEXTS[i % 4], TEXTS[(i + 1) % 4]] * (1 + i % 3) for i in range(24)]
    predictor = Predictor(exported_student)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda texts: post(server, {"texts": texts}), requests_texts))
    for texts, response in zip(requests_texts, responses):
        assert response.status_code == 200 and response.json()["results"] == predictor.predict(texts)


def port_of(url):
    return int(url.rsplit(":", 1)[1])


def test_a_client_stalling_in_its_headers_is_disconnected(server):
    answer, waited = exchange(port_of(server), b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Ty")
    assert answer == b"" and 0.5 < waited < 4  # --request_timeout 1
    assert post(server, {"texts": ["好"]}).status_code == 200


def test_a_client_stalling_in_its_body_gets_408_and_is_disconnected(server):
    stalled = (b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100\r\n\r\n{\"texts\": [")
    answer, waited = exchange(port_of(server), stalled)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["field"] == "body" and 0.5 < waited < 4
    assert post(server, {"texts": ["好"]}).status_code == 200


def test_max_buffered_mb_bounds_the_request_bodies_held_at_once(exported_student):
    """Past --max_buffered_mb a large body gets 503 (Retry-After), while a small request is still answered."""
    with running_server(exported_student, "--max_buffered_mb", "0.25") as url:
        head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n\r\n"
        first = socket.create_connection(("127.0.0.1", port_of(url)), timeout=5)
        first.sendall(head + b" " * 200_000)  # held: 200 KB of 256 KiB
        time.sleep(0.3)
        answer, _ = exchange(port_of(url), head + b" " * 200_000)
        assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in answer
        assert post(url, {"texts": ["好"]}).status_code == 200
        first.close()


def serve_py(*args):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "serve.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_a_busy_port_is_one_error_line_before_anything_claims_to_serve(exported_student):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = serve_py("--model_dir", exported_student, "--port", str(port))
    assert code == 2 and output == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_a_second_server_started_while_the_first_loads_is_one_error_line(exported_student):
    """The port listens from the bind on: a second server cannot take it while the first is still loading its model,
    and a client that connects meanwhile waits instead of being refused."""
    port = free_port()
    first = subprocess.Popen([sys.executable, os.path.join(ROOT, "serve.py"), "--model_dir", exported_student, "--port",
                              str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:  # until the first server holds the port
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        code, output = serve_py("--model_dir", exported_student, "--port", str(port))
        assert code == 2 and output == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=60).ok  # answered once the model is loaded
    finally:
        first.terminate()
        log = first.communicate(timeout=30)[0]
    assert log.count("serving the student") == 1


def test_sigterm_while_the_model_loads_stops_the_server_quietly(exported_student):
    """The port listens from the bind on, before the model loads: SIGTERM then is a stop (status 0, one log line), not
    a death by the signal."""
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "serve.py"), "--model_dir", exported_student,
                               "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:  # until it holds the port: it is loading the model
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.01)
        server.terminate()
        assert server.wait(timeout=60) == 0
    finally:
        server.kill()
        log = server.communicate()[0]
    assert log.endswith("stopped (SIGTERM) before serving\n") and "Traceback" not in log and "serving the" not in log


SWALLOWING_LOADER = """
import os, signal, sys
from ernie_distill.commands import serve

loaded = serve.Predictor.from_settings

def load_swallowing_a_sigterm(*args):
    try:  # as an import inside numba's does, 1 start in 6 (measured)
        os.kill(os.getpid(), signal.SIGTERM)  # (its handler raises Terminated before os.kill returns)
    except BaseException:
        pass
    return loaded(*args)

serve.Predictor.from_settings = load_swallowing_a_sigterm
sys.exit(serve.run())
"""


def test_a_sigterm_a_library_swallowed_while_the_model_loads_still_stops_the_server(exported_student):
    done = subprocess.run([sys.executable, "-c", SWALLOWING_LOADER, "--model_dir", exported_student, "--port",
                           str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.endswith("stopped (SIGTERM) before serving\n")
    assert "serving the" not in done.stderr and "Traceback" not in done.stderr


def test_workers_refuse_a_port_that_workers_of_another_server_hold(exported_student):
    """Workers bind with SO_REUSEPORT, which would let a second server share the port (and half the connections)."""
    with running_server(exported_student, "--workers", "2") as url:
        port = url.rsplit(":", 1)[1]
        code, output = serve_py("--model_dir", exported_student, "--port", port, "--workers", "2")
        assert requests.get(f"{url}/health", timeout=5).ok
    assert code == 2 and output == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("args, error", [
    (["--model_dir", "no/such/export", "--port", "0"],
     "error: argument --model_dir: no/such/export does not exist (see serve.py --help)\n"),
    (["--model_dir", ".", "--port", "99999"],
     "error: argument --port: must be >= 0 and <= 65535, got 99999 (see serve.py --help)\n"),
])
def test_bad_serve_arguments_are_one_error_line(args, error):
    assert serve_py(*args) == (2, error)


def one_text_requests(url, texts, clients=16):
    """The answer to each text, each sent alone, by `clients` concurrent clients."""
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda text: post(url, {"texts": [text]}).json()["results"][0], texts))


def varied_texts(n):
    return [f"{TEXTS[i % len(TEXTS)]}{'!' * (i % 5)}" for i in range(n)]


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(exported_student):
    """16 clients, one text each: every answer is the one predict.py gives, and the server batched them."""
    texts = varied_texts(64)
    with running_server(exported_student, "--batch_texts", "16", "--batch_wait_ms", "20") as url:
        answers = one_text_requests(url, texts)
        health = requests.get(f"{url}/health", timeout=5).json()
    assert answers == Predictor(exported_student).predict(texts)
    assert health["model_calls"] < len(texts)  # requests were gathered into shared calls


def test_unknown_paths_and_methods_answer_the_json_error_shape(server):
    missing = requests.get(f"{server}/nothing", timeout=5)
    wrong_method = requests.get(f"{server}/predict", timeout=5)
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert missing.json()["field"] == "path" and "GET /nothing" in missing.json()["error"]
    assert wrong_method.json()["field"] == "path"


def test_several_workers_answer_as_predict_py_and_stop_with_the_server(exported_student):
    texts = varied_texts(48)
    with running_server(exported_student, "--workers", "2", "--cpu_threads", "2") as url:
        answers = one_text_requests(url, texts)
        pids = set()

        def both_workers_answered():  # new connections are spread over their sockets, once the second has loaded
            with ThreadPoolExecutor(16) as pool:
                pids.update(pool.map(lambda _: requests.get(f"{url}/health", timeout=5).json()["worker_pid"], range(32)))
            return len(pids) == 2

        assert wait_until(both_workers_answered)
        assert post(url, {"texts": []}).status_code == 422  # validation is the same in every worker
    assert answers == Predictor(exported_student).predict(texts)
    time.sleep(0.5)
    for pid in pids:  # the workers went with the server
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def worker_pids(server_pid):
    """The serve.py workers (spawned processes) whose parent is server_pid, from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                spawned = b"spawn_main" in f.read()
        except (OSError, ValueError, IndexError):
            continue
        if parent == server_pid and spawned:
            pids.append(int(entry))
    return pids


def wait_until(condition, seconds=20):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads processes from /proc")
@pytest.mark.parametrize("stop_signal", ["SIGTERM while the workers load", "SIGKILL once they serve"])
def test_no_worker_outlives_the_server(exported_student, stop_signal):
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "serve.py"), "--model_dir", exported_student,
                               "--workers", "2", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    assert wait_until(lambda: len(worker_pids(server.pid)) == 2)
    workers = worker_pids(server.pid)
    if stop_signal.startswith("SIGTERM"):
        server.terminate()
    else:
        assert "serving the student" in server.stdout.readline()  # logged once both workers listen
        server.kill()  # no chance to stop its workers: they notice they are orphans
    server.wait(timeout=30)
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers))


class BrokenPredictor:
    """A model that fails, or answers NaN: the application's 500s, without a server."""

    manifest = SimpleNamespace(kind="student")

    def __init__(self, answer):
        self.answer = answer

    def predict(self, texts, with_probabilities=False):
        if self.answer == "raise":
            raise RuntimeError("the model's runtime failed")
        return [{"text": t, "label": "positive", "score": float("nan"),
                 **({"probabilities": {"positive": float("nan")}} if with_probabilities else {})} for t in texts]


def call_app(app, requests_to_send):
    """[(status, headers, JSON content)] of the application for (method, path, body, content type) requests, in one
    event loop."""
    async def all_of_them():
        return [await app(*request) for request in requests_to_send]

    return [(status, dict(headers), content) for status, content, headers in asyncio.run(all_of_them())]


@pytest.mark.parametrize("answer", ["raise", "nan"])
def test_a_failing_model_gets_500_in_the_error_shape_and_the_app_carries_on(answer):
    app = create_app(BrokenPredictor(answer))
    body = json.dumps({"texts": ["好"]}).encode()
    json_post = ("POST", "/predict", body, "application/json")
    answers = call_app(app, [json_post, json_post, ("DELETE", "/predict", b"", "")])
    for status, _, content in answers[:2]:
        assert status == 500 and content == {"error": "prediction failed; the server's log says why", "field": None}
    assert answers[2][0] == 405 and answers[2][1][b"allow"] == b"POST"


def test_predict_takes_json_only():
    """A web page can POST text/plain (or a form) to a server on localhost without a CORS preflight: refused."""
    app = create_app(BrokenPredictor("raise"))
    body = json.dumps({"texts": ["好"]}).encode()
    answers = call_app(app, [("POST", "/predict", body, "text/plain"), ("POST", "/predict", body, "")])
    assert [(status, content["field"]) for status, _, content in answers] == [(415, "content-type")] * 2
    assert answers[0][2]["error"] == "Content-Type must be application/json, not text/plain"


def test_ready_is_503_while_the_server_drains():
    from ernie_distill.serving.http_server import ServerState

    state = ServerState()
    app = create_app(BrokenPredictor("raise"), state=state)
    before = call_app(app, [("GET", "/ready", b"", ""), ("POST", "/ready", b"", "")])
    state.draining = True
    after = call_app(app, [("GET", "/ready", b"", "")])
    assert [(s, c) for s, _, c in before] == [(200, {"status": "ready"}),
                                             (405, {"error": "POST /ready: Method Not Allowed", "field": "path"})]
    assert (after[0][0], after[0][2]) == (503, {"status": "draining"})


def test_metrics_in_prometheus_text_format():
    from prometheus_client.parser import text_string_to_metric_families

    app = create_app(BrokenPredictor("nan"))
    body = json.dumps({"texts": ["好", "差"]}).encode()
    answers = call_app(app, [("POST", "/predict", body, "application/json")] * 2
                       + [("GET", "/nowhere", b"", ""), ("GET", "/metrics", b"", "")])
    status, headers, exposition = answers[-1]
    assert status == 200 and headers[b"content-type"].startswith(b"text/plain; version=")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(exposition.decode()) for s in family.samples}
    assert samples[("ernie_distill_requests_total", (("path", "/predict"), ("status", "500")))] == 2
    assert samples[("ernie_distill_requests_total", (("path", "other"), ("status", "404")))] == 1
    assert samples[("ernie_distill_texts_predicted_total", ())] == 4  # the model ran; its NaN answers were refused
    assert samples[("ernie_distill_batch_texts_count", ())] == 2 and samples[("ernie_distill_batch_texts_sum", ())] == 4
    assert samples[("ernie_distill_request_seconds_count", (("path", "/predict"),))] == 2
    assert samples[("ernie_distill_model_call_seconds_count", ())] == 2
    assert samples[("ernie_distill_queued_requests", ())] == 0


def test_a_body_holding_too_many_json_values_is_refused_before_it_is_parsed(monkeypatch):
    """Python's JSON parser would hold the event loop 0.7 s for a 5.8 MB array of [] items (0.2 µs a value): a body
    with more values than max_texts texts and OTHER_VALUES others can hold is refused 413 without being parsed."""
    from ernie_distill.commands import serve

    def not_parsed(text):
        raise AssertionError("parsed")

    many = [b'{"texts": [' + b",".join([item] * 400) + b"]}" for item in (b"[]", b'"a"', b"1", b'{"a": 1}')]
    with monkeypatch.context() as patched:
        patched.setattr(serve.json, "loads", not_parsed)
        for body in many:
            with pytest.raises(serve.RequestError) as refused:
                serve.parse_request(body, 32, 100)
            assert (refused.value.status, refused.value.field) == (413, "body")
    # commas and escaped quotes and backslashes inside texts are no values; nor are a few parameters
    texts = ['a, b, "c", \\', '\\"', ", " * 40, "好"] * 8
    assert serve.parse_request(json.dumps({"texts": texts}).encode(), 32, 100) == (texts, False)
    simple_server = {"data": {"text": texts}, "parameters": {f"p{i}": i for i in range(serve.OTHER_VALUES - 2)}}
    assert serve.parse_request(json.dumps(simple_server, indent=2).encode(), 32, 100) == (texts, False)


def test_clients_disconnected_for_unread_answers_are_counted_in_metrics():
    from ernie_distill.serving.http_server import ServerState

    state = ServerState()
    app = create_app(BrokenPredictor("raise"), state=state)
    state.on_disconnected("unread_answers")
    (status, _, exposition), = call_app(app, [("GET", "/metrics", b"", "")])
    assert status == 200 and b'ernie_distill_disconnected_clients_total{reason="unread_answers"} 1.0' in exposition


def http_request(method, path, body=None):
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return head.encode() + b"\r\n" + data


def read_answer(connection):
    """One HTTP answer from a socket: (status, lower-cased headers, JSON content)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection without an answer (after {received!r})"
        received += chunk
    head, _, content = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    while len(content) < int(headers["content-length"]):
        content += connection.recv(65536)
    return int(status_line.split()[1]), headers, json.loads(content)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_answers_requests_in_flight_on_open_connections_and_ready_turns_503(exported_student, workers):
    """serve.py itself, sent SIGTERM while requests on accepted keep-alive connections wait for their model call (held
    by --batch_wait_ms): each is answered, with Connection: close, and the server exits 0. A request that completes
    during the drain (its headers began before the signal) gets GET /ready's 503."""
    port = free_port()
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "serve.py"), "--model_dir", exported_student,
                               "--port", str(port), "--workers", workers, "--batch_wait_ms", "1000"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    threading.Thread(target=lambda: log.extend(server.stdout), daemon=True).start()
    try:
        assert wait_until(lambda: any("serving the student" in line for line in log), 60), "".join(log)
        connections = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(6)]
        for connection, text in zip(connections, varied_texts(6)):
            connection.sendall(http_request("POST", "/predict", {"texts": [text]}))
        for connection in connections:  # accepted, answered, and kept open
            status, headers, _ = read_answer(connection)
            assert status == 200 and headers.get("connection") != "close"
        probe = socket.create_connection(("127.0.0.1", port), timeout=30)
        probe.sendall(http_request("GET", "/ready"))
        assert read_answer(probe)[::2] == (200, {"status": "ready"})
        probe.sendall(b"GET /ready HTTP/1.1\r\nHost: localhost\r\n")  # a request begun: its headers' end comes later

        texts = varied_texts(12)[6:]
        for connection, text in zip(connections, texts):
            connection.sendall(http_request("POST", "/predict", {"texts": [text]}))
        time.sleep(0.3)  # received, and waiting for their model call (1 s)
        server.send_signal(signal.SIGTERM)
        assert wait_until(lambda: sum("stopping: no new connections" in line for line in log) == int(workers))
        probe.sendall(b"\r\n")
        status, headers, content = read_answer(probe)
        assert (status, content, headers["connection"]) == (503, {"status": "draining"}, "close")

        answers = [read_answer(connection) for connection in connections]
        assert [content["results"][0] for _, _, content in answers] == Predictor(exported_student).predict(texts)
        assert all(status == 200 and headers["connection"] == "close" for status, headers, _ in answers)
        assert server.wait(timeout=30) == 0
        assert not any("dropped" in line for line in log), "".join(log)
    finally:
        server.kill()
        server.wait(timeout=30)
