"""The HTTP/1.1 server under serve.py, with a stand-in application: what HTTP clients do to it, and what it answers."""
import asyncio
import json
import socket
import sys
import threading
import time

import pytest

from conftest import exchange
from ernie_distill.log import logger
from ernie_distill.serving.http_server import MAX_HEADER_BYTES, HttpConnection, ServerState, accept_queued


async def echo(method, path, body, content_type):
    """A stand-in application: what it was asked, or a failure for /fail."""
    if path == "/fail":
        raise RuntimeError("a bug in the application")
    seen = {"method": method, "path": path, "body": body.decode()}
    return 200, {**seen, "type": content_type} if content_type else seen, []


@pytest.fixture(scope="module")
def port():
    """A server on a free loopback port, in an event loop on a thread of its own: 1 s timeouts, 100-byte bodies."""
    loop, ready = asyncio.new_event_loop(), threading.Event()
    sock = socket.create_server(("127.0.0.1", 0))

    async def start():
        await loop.create_server(lambda: HttpConnection(echo, 1.0, 100), sock=sock)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    yield sock.getsockname()[1]
    loop.call_soon_threadsafe(loop.stop)


def answers(received):
    """[(status, headers, body)] of the answers in the bytes a connection received."""
    out = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers.get("content-length", 0))  # (none on 100 Continue)
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        received = rest[length:]
    return out


def request(method, path, body=b"", headers=b""):
    return b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s" % (method, path, len(body), headers, body)


def test_pipelined_requests_are_answered_in_order_on_one_keep_alive_connection(port):
    received, _ = exchange(port, request(b"POST", b"/a?q=1", b"one") + request(b"GET", b"/b")
                           + request(b"POST", b"/c", b"three", b"Connection: close\r\n"))
    got = [(status, json.loads(body)) for status, _, body in answers(received)]
    assert got == [(200, {"method": "POST", "path": "/a", "body": "one"}),
                   (200, {"method": "GET", "path": "/b", "body": ""}),
                   (200, {"method": "POST", "path": "/c", "body": "three"})]


def test_head_gets_the_headers_without_the_body_and_http_1_0_is_closed_after_its_answer(port):
    received, _ = exchange(port, b"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    content = json.dumps({"method": "HEAD", "path": "/h", "body": ""}, separators=(",", ":")).encode()
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: %d" % len(content) in head and body == b""
    received, _ = exchange(port, b"GET /h HTTP/1.0\r\n\r\n")
    (status, headers, body), = answers(received)
    assert status == 200 and headers["connection"] == "close" and json.loads(body)["method"] == "GET"


def test_a_chunked_body_and_expect_100_continue(port):
    received, _ = exchange(port, b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                 b"Expect: 100-continue\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    got = answers(received)
    assert got[0][0] == 100 and got[1][0] == 200 and json.loads(got[1][2])["body"] == "abcde"


@pytest.mark.parametrize("data, status, field", [
    (b"NOT HTTP\r\n\r\n", 400, "request"),
    (request(b"POST", b"/p", b"x" * 101), 413, "body"),  # over the 100 bytes, known from Content-Length
    (b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + b"x" * 128 + b"\r\n0\r\n\r\n",
     413, "body"),  # over it in a chunked body
    (b"GET /h HTTP/1.1\r\nX: " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n", 431, "request"),
])
def test_refused_requests_get_one_json_answer_and_the_connection_is_closed(port, data, status, field):
    received, _ = exchange(port, data + request(b"GET", b"/never-read"))
    (got_status, headers, body), = answers(received)
    assert got_status == status and headers["connection"] == "close" and json.loads(body)["field"] == field


def test_stalled_headers_are_disconnected_and_a_stalled_body_gets_408(port):
    received, waited = exchange(port, b"GET /h HTTP/1.1\r\nHost: x\r\nX-Slow")
    assert received == b"" and 0.7 < waited < 4
    received, waited = exchange(port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    (status, _, body), = answers(received)
    assert status == 408 and json.loads(body)["field"] == "body" and 0.7 < waited < 4
    received, waited = exchange(port, request(b"GET", b"/h"))  # an idle keep-alive connection is closed in time too
    assert answers(received)[0][0] == 200 and 0.7 < waited < 4


def test_an_application_that_fails_answers_500_and_the_connection_carries_on(port):
    received, _ = exchange(port, request(b"GET", b"/fail") + request(b"GET", b"/h", headers=b"Connection: close\r\n"))
    (status, _, body), (after, _, _) = answers(received)
    assert status == 500 and json.loads(body)["field"] is None and after == 200


def test_refusals_come_after_the_answers_owed_to_earlier_pipelined_requests(port):
    received, _ = exchange(port, request(b"GET", b"/first") + b"NOT HTTP\r\n\r\n")
    assert [status for status, _, _ in answers(received)] == [200, 400]


H2C = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"


@pytest.mark.parametrize("offer", [
    request(b"POST", b"/a", b'{"texts": ["x"]}', H2C),  # what curl --http2 sends: a body after the offer
    b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + H2C + b"\r\n3\r\nabc\r\n0\r\n\r\n",
    request(b"GET", b"/a", headers=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n"),
])
def test_an_upgrade_offer_is_ignored_the_request_answered_in_http_1_1_and_the_connection_carries_on(port, offer):
    """RFC 9110, section 7.8: a server may ignore an Upgrade header field; the request is one like any other."""
    body = offer.partition(b"\r\n\r\n")[2]
    received, _ = exchange(port, offer + request(b"POST", b"/b", b"next", b"Connection: close\r\n"))
    (first, _, first_body), (second, _, second_body) = answers(received)
    assert first == 200 and json.loads(first_body)["path"] == "/a"
    assert json.loads(first_body)["body"] == ("abc" if b"chunked" in offer else body.decode())
    assert (second, json.loads(second_body)["body"]) == (200, "next")


def test_http_1_1_without_host_and_connect_are_refused(port):
    received, _ = exchange(port, request(b"GET", b"/first") + b"GET /h HTTP/1.1\r\n\r\n")
    (first, _, _), (status, headers, body) = answers(received)
    assert (first, status, json.loads(body)["field"], headers["connection"]) == (200, 400, "headers", "close")
    received, _ = exchange(port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    (status, _, body), = answers(received)
    assert status == 405 and json.loads(body) == {"error": "CONNECT: Method Not Allowed (this server is no proxy)",
                                                  "field": "method"}
    received, _ = exchange(port, b"GET /h HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs no Host
    assert answers(received)[0][0] == 200


def test_a_second_host_header_is_refused(port):
    received, _ = exchange(port, b"GET /h HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    (status, headers, body), = answers(received)
    assert (status, json.loads(body)["field"], headers["connection"]) == (400, "headers", "close")


def test_a_gzip_body_is_decoded_within_the_body_limit_and_other_encodings_are_refused(port):
    import gzip

    received, _ = exchange(port, request(b"POST", b"/p", gzip.compress(b"hello"),
                                         b"Content-Encoding: gzip\r\nConnection: close\r\n"))
    (status, _, body), = answers(received)
    assert (status, json.loads(body)["body"]) == (200, "hello")
    for data, encoding, expected in [(b"hello", b"br", (415, "content-encoding")),
                                     (b"hello", b"gzip, br", (415, "content-encoding")),
                                     (gzip.compress(b"x" * 101), b"gzip", (413, "body")),  # over 100 bytes decoded
                                     (gzip.compress(b"x" * 10**6), b"gzip", (413, "body")),  # 1 KB -> 1 MB
                                     (b"not gzip", b"gzip", (400, "body")),
                                     (gzip.compress(b"x")[:-4], b"gzip", (400, "body"))]:  # truncated
        received, _ = exchange(port, request(b"POST", b"/p", data, b"Content-Encoding: %s\r\n" % encoding))
        (status, headers, body), = answers(received)
        assert (status, json.loads(body)["field"]) == expected and headers["connection"] == "close", encoding


@pytest.mark.parametrize("incomplete", [
    request(b"POST", b"/p", b"0123456789")[:-3],  # in its body
    b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    b"GET /h HTTP/1.1\r\nHost: x\r\nX-A",  # in its headers
    request(b"GET", b"/first") + b"GET /h HTTP/1.1\r\nHos",  # after a complete one
])
def test_a_client_half_closing_before_its_request_is_complete_gets_400(port, incomplete):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(incomplete)
        connection.shutdown(socket.SHUT_WR)
        began, received = time.monotonic(), b""
        while chunk := connection.recv(65536):
            received += chunk
    *before, (status, headers, body) = answers(received)
    assert [answer[0] for answer in before] == ([200] if b"/first" in incomplete else [])
    assert (status, headers["connection"]) == (400, "close") and time.monotonic() - began < 0.5


def test_a_client_sending_its_whole_oversized_body_before_reading_gets_its_413(port):
    """As Python's urllib does: the server answers from the headers, then reads and drops the rest of the body, where
    closing at once would reset the connection (unread bytes), destroying the answer before the client reads it."""
    body = b"x" * 12_000_000
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request(b"POST", b"/p", body))
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    (status, headers, body), = answers(received)
    assert (status, json.loads(body)["field"], headers["connection"]) == (413, "body", "close")


def test_the_application_gets_the_content_type_without_parameters(port):
    received, _ = exchange(port, request(b"POST", b"/p", b"{}", b"Content-Type: Application/JSON; charset=utf-8\r\n"
                                                                 b"Connection: close\r\n"))
    assert json.loads(answers(received)[0][2])["type"] == "application/json"


def test_a_half_closed_client_gets_its_answer(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request(b"GET", b"/h"))
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert answers(received)[0][0] == 200


SLOW_SERVER = """
import asyncio, os, signal, socket, sys, time
from ernie_distill.serving.http_server import serve_forever

async def slow(method, path, body, content_type):
    if path.startswith("/block"):  # the event loop itself
        time.sleep(float(path[len("/block"):]))
    else:
        await asyncio.sleep(float(path.strip("/")))
    return 200, {"slept": path}, []

def stop_requested():  # "stopped": a SIGTERM came before; "signalled": one comes as the loop asks
    if sys.argv[2:] == ["signalled"]:
        os.kill(os.getpid(), signal.SIGTERM)
    return sys.argv[2:] == ["stopped"]

sock = socket.create_server(("127.0.0.1", 0))
serve_forever(sock, slow, 5.0, 100, lambda: print(sock.getsockname()[1], flush=True),
              graceful_timeout=float(sys.argv[1]), stop_requested=stop_requested)
"""


def slow_server(graceful_timeout, *flags):
    import subprocess
    import sys

    server = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, str(graceful_timeout), *flags],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return server, int(server.stdout.readline())


@pytest.mark.parametrize("stop", ["stopped", "signalled"])
def test_a_stop_requested_before_the_loop_took_the_signals_over_drains_the_server_at_once(stop):
    """"stopped": a SIGTERM whose exception was swallowed before serve_forever ran (cli.terminated() says it came).
    "signalled": the loop asks once it has taken SIGTERM over, so one that comes then drains it too (asked before, the
    signal's default action would kill the server)."""
    server, _ = slow_server(10, stop)
    try:
        assert server.wait(5) == 0 and server.stderr.read().endswith("- stopped\n")
    finally:
        server.kill()


def send(port, data):
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(data)
    return connection


def read_all(connection):
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    connection.close()
    return received


def test_sigterm_answers_the_requests_in_flight_then_exits_and_refuses_new_connections():
    import signal
    import time

    server, port = slow_server(graceful_timeout=10)
    busy = [send(port, request(b"GET", b"/0.6")) for _ in range(3)]  # in flight when SIGTERM comes
    pipelined = send(port, request(b"GET", b"/0.3") + request(b"GET", b"/0.3"))  # two received, one after the other
    idle = send(port, request(b"GET", b"/0"))
    time.sleep(0.3)
    server.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    with pytest.raises(OSError):  # no new connections
        send(port, request(b"GET", b"/0")).recv(1)
    for connection in busy:
        (status, headers, _), = answers(read_all(connection))
        assert status == 200 and headers["connection"] == "close"
    first, second = answers(read_all(pipelined))
    assert (first[0], second[0]) == (200, 200) and "connection" not in first[1] and second[1]["connection"] == "close"
    assert answers(read_all(idle))[0][0] == 200  # answered before SIGTERM; the idle connection closed soon after
    assert server.wait(5) == 0


def test_a_request_in_flight_on_an_idle_connection_when_sigterm_comes_is_answered():
    """A keep-alive connection idle when the signal comes may have a request on its way (or in the kernel, unread):
    closing it at once would reset that request unanswered."""
    import signal
    import time

    server, port = slow_server(graceful_timeout=10)
    idle = send(port, request(b"GET", b"/0"))
    assert answers(idle.recv(65536))[0][0] == 200
    server.send_signal(signal.SIGTERM)
    time.sleep(0.02)
    idle.sendall(request(b"GET", b"/0"))
    (status, headers, _), = answers(read_all(idle))
    assert status == 200 and headers["connection"] == "close"
    assert server.wait(5) == 0


def test_what_is_left_after_the_graceful_timeout_is_dropped_and_logged():
    import signal
    import time

    server, port = slow_server(graceful_timeout=0.3)
    stuck = send(port, request(b"GET", b"/30"))
    time.sleep(0.2)
    began = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait(5) == 0 and time.monotonic() - began < 2
    assert read_all(stuck) == b""
    assert "1 connection(s) still open after --graceful_timeout 0.3 s" in server.stderr.read()


def test_a_drained_connection_lingers_after_its_last_answer_until_the_client_closes():
    """The idle connections' close after the signal must leave alone one that is lingering after its last answer."""
    import signal
    import time

    server, port = slow_server(graceful_timeout=10)
    connection = send(port, request(b"GET", b"/0.1"))
    time.sleep(0.05)
    server.send_signal(signal.SIGTERM)
    time.sleep(0.6)  # answered at 0.1 s; the client neither reads nor closes yet
    assert server.poll() is None
    (status, headers, _), = answers(read_all(connection))
    assert status == 200 and headers["connection"] == "close"
    assert server.wait(5) == 0


def test_a_drained_connections_last_answer_survives_requests_it_never_read():
    """Closing a socket with unread bytes sends a reset, which can destroy the answers in flight: the server sends its
    FIN and drops what it has not read instead."""
    import signal
    import time

    server, port = slow_server(graceful_timeout=10)
    connection = send(port, request(b"GET", b"/0.3") * 3)  # two wait behind the first: the server stops reading
    time.sleep(0.1)
    connection.sendall(request(b"GET", b"/0") * 50)  # left unread in the server's socket
    server.send_signal(signal.SIGTERM)
    time.sleep(1.0)  # the client reads late, after the server has closed its end
    statuses = [(status, headers.get("connection")) for status, headers, _ in answers(read_all(connection))]
    assert statuses == [(200, None), (200, None), (200, "close")]
    assert server.wait(5) == 0


def test_the_answers_the_server_makes_itself_are_reported():
    """Malformed HTTP, a missing Host, a stalled body and a failing application never reach the application: the
    server tells state.on_refused (serve.py counts them in /metrics under path "-"), and of connections closed for
    want of a request, state.on_disconnected."""
    from ernie_distill.serving.http_server import ServerState

    refused, disconnected = [], []
    loop, ready = asyncio.new_event_loop(), threading.Event()
    sock = socket.create_server(("127.0.0.1", 0))

    async def start():
        state = ServerState(on_refused=refused.append, on_disconnected=disconnected.append)
        await loop.create_server(lambda: HttpConnection(echo, 0.3, 100, state), sock=sock)
        ready.set()

    threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True).start()
    ready.wait(10)
    port = sock.getsockname()[1]
    exchange(port, b"NOT HTTP\r\n\r\n")
    exchange(port, b"GET /h HTTP/1.1\r\n\r\n")
    exchange(port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    exchange(port, request(b"GET", b"/fail", headers=b"Connection: close\r\n"))
    assert disconnected == []
    exchange(port, b"GET /h HTTP/1.1\r\nHost:")  # headers never finished
    exchange(port, request(b"GET", b"/h"))  # answered, then idle
    loop.call_soon_threadsafe(loop.stop)
    assert refused == [400, 400, 408, 500] and disconnected == ["no_request", "no_request"]



def pipeline_without_reading(connection, disconnected, pause):
    """Send requests on `connection` as fast as the server takes them, never reading, until the server reports a
    disconnection (or resets it) or for 5 s at most; then close it."""
    connection.setblocking(False)
    began = time.monotonic()
    while not disconnected and time.monotonic() < began + 5:
        try:
            connection.send(request(b"GET", b"/a") * 50)
        except BlockingIOError:
            pass
        except OSError:  # reset by the server
            break
        time.sleep(pause)
    connection.close()


def serve_in_thread(answer, timeout, max_body_bytes, state=None):
    """A server on a free loopback port, in an event loop on a thread of its own: (port, its connections, its loop)."""
    from ernie_distill.serving.http_server import ServerState

    loop, ready, connections = asyncio.new_event_loop(), threading.Event(), []
    sock = socket.create_server(("127.0.0.1", 0))
    state = state or ServerState()

    def connection():
        connections.append(HttpConnection(answer, timeout, max_body_bytes, state))
        return connections[-1]

    async def start():
        await loop.create_server(connection, sock=sock)
        ready.set()

    threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True).start()
    ready.wait(10)
    return sock.getsockname()[1], connections, loop


def wait_for(condition, seconds=5):
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_pipelined_requests_are_parsed_only_a_few_ahead_of_their_answers_and_all_answered():
    """A client pipelining hundreds of requests in one packet gets them parsed PIPELINE_DEPTH at a time (plus those in
    the last FEED_BYTES), the rest left unparsed and the socket unread, not all of them queued at once."""
    from ernie_distill.serving.http_server import FEED_BYTES, PIPELINE_DEPTH

    go, seen = threading.Event(), []

    async def blocked_until_go(method, path, body, content_type):
        seen.append(path)
        while not go.is_set():
            await asyncio.sleep(0.01)
        return 200, {"path": path}, []

    port, connections, loop = serve_in_thread(blocked_until_go, 5.0, 100)
    pipelined = [b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(300)]
    pipelined[-1] = b"GET /299 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    connection = send(port, b"".join(pipelined))
    assert wait_for(lambda: seen)
    assert len(seen) == 1 and len(connections[0].pending) <= PIPELINE_DEPTH + FEED_BYTES // len(pipelined[0])
    go.set()
    got = [json.loads(body)["path"] for _, _, body in answers(read_all(connection))]
    loop.call_soon_threadsafe(loop.stop)
    assert got == [f"/{i}" for i in range(300)]


def test_a_client_not_reading_its_answers_is_disconnected_after_the_timeout():
    """Answers pile up in the server's write buffer: past its high-water mark for `timeout` seconds, the connection is
    aborted (a close would wait for ever to send them) and reported as ("unread_answers")."""
    from ernie_distill.serving.http_server import ServerState

    async def large(method, path, body, content_type):
        return 200, b"x" * 4_000_000, [(b"content-type", b"application/octet-stream")]

    disconnected = []
    port, _, loop = serve_in_thread(large, 0.3, 100, ServerState(on_disconnected=disconnected.append))
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", port))
    connection.sendall(request(b"GET", b"/a") * 4)  # 16 MB of answers, never read
    assert wait_for(lambda: disconnected)
    connection.settimeout(5)
    received = 0
    try:
        while chunk := connection.recv(1 << 20):  # what the kernel had taken, then the end of the connection
            received += len(chunk)
    except ConnectionResetError:
        pass
    connection.close()
    loop.call_soon_threadsafe(loop.stop)
    assert disconnected == ["unread_answers"] and received < 16_000_000


def test_memory_is_given_back_after_a_large_body_answered_or_abandoned(monkeypatch):
    """glibc keeps what a large body freed unless asked (malloc_trim): once a second at most, after such a body."""
    from ernie_distill.serving import http_server

    trims = []
    monkeypatch.setattr(http_server, "MALLOC_TRIM", lambda: trims.append(True))
    port, _, loop = serve_in_thread(echo, 0.3, 3 << 20)
    body = b"y" * (http_server.LARGE_BODY_BYTES + 1)
    received, _ = exchange(port, request(b"POST", b"/p", body, b"Connection: close\r\n"))
    (status, _, answered), = answers(received)
    assert status == 200 and len(json.loads(answered)["body"]) == len(body)
    assert wait_for(lambda: len(trims) == 1)
    received, _ = exchange(port, request(b"POST", b"/p", body)[:-1])  # stalled one byte short: 408, then closed
    assert answers(received)[0][0] == 408
    assert wait_for(lambda: len(trims) == 2)
    exchange(port, request(b"POST", b"/p", b"small", b"Connection: close\r\n"))
    loop.call_soon_threadsafe(loop.stop)
    assert len(trims) == 2


def small_receive_buffer_client(port):
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", port))
    return connection


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's send queue is looked at on Linux")
def test_a_client_pipelining_and_never_reading_is_disconnected_whatever_the_kernel_buffers_hold():
    """Its answers fill the kernel's socket buffers (megabytes) long before the transport's: the server looks at the
    bytes the client has not acknowledged, so it stops answering after UNREAD_BYTES or so and disconnects the client
    `timeout` seconds later, not once the kernel's buffers are full (here 8 s of answers)."""
    from ernie_distill.serving.http_server import CHECK_BYTES, UNREAD_BYTES, ServerState

    answered, disconnected = [], []

    async def kilobyte(method, path, body, content_type):
        await asyncio.sleep(0.002)
        answered.append(path)
        return 200, b"x" * 1000, [(b"content-type", b"application/octet-stream")]

    state = ServerState(on_disconnected=lambda reason: disconnected.append((reason, time.monotonic())))
    port, _, loop = serve_in_thread(kilobyte, 0.5, 100, state)
    began = time.monotonic()
    pipeline_without_reading(small_receive_buffer_client(port), disconnected, 0.005)
    loop.call_soon_threadsafe(loop.stop)
    (reason, at), = disconnected
    assert reason == "unread_answers" and 0.5 < at - began < 2.5
    assert len(answered) * 1000 < 3 * (UNREAD_BYTES + CHECK_BYTES)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's send queue is looked at on Linux")
def test_a_client_that_stops_reading_for_less_than_the_timeout_gets_all_its_answers():
    """Meanwhile the server stops answering its pipelined requests, then carries on once it has read."""
    answered = []

    async def large(method, path, body, content_type):
        answered.append(path)
        return 200, b"x" * 32_000, [(b"content-type", b"application/octet-stream")]

    port, _, loop = serve_in_thread(large, 1.0, 100)
    padding = b"x-padding: %s\r\n" % (b"p" * 1000)  # (the parser is fed a kilobyte at a time: one request each)
    pipelined = [request(b"GET", b"/%d" % i, headers=padding) for i in range(39)]
    pipelined.append(request(b"GET", b"/39", headers=padding + b"Connection: close\r\n"))
    connection = small_receive_buffer_client(port)
    connection.sendall(b"".join(pipelined))  # 1.3 MB of answers
    time.sleep(0.3)
    answered_unread = len(answered)
    connection.settimeout(10)
    got = answers(read_all(connection))
    loop.call_soon_threadsafe(loop.stop)
    assert answered_unread < 10 and [status for status, _, _ in got] == [200] * 40 and len(answered) == 40


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's send queue is looked at on Linux")
def test_a_body_the_server_stopped_reading_while_its_client_was_behind_gets_its_time_again():
    """The server stops reading while the client does not read its answers: the body under way meanwhile is not the
    client's delay, so its deadline starts again once the client has read them (not 408 at `timeout` seconds)."""
    from ernie_distill.serving.http_server import response

    large_answer = (200, b"x" * 100_000, [(b"content-type", b"application/octet-stream")])

    async def large_or_echo(method, path, body, content_type):
        return large_answer if method == "GET" else (200, {"body": body.decode()}, [])

    port, _, loop = serve_in_thread(large_or_echo, 1.0, 100)
    connection = small_receive_buffer_client(port)
    post = request(b"POST", b"/p", b"0123456789", b"Connection: close\r\n")
    connection.sendall(request(b"GET", b"/a") * 2 + post[:-5])  # 200 KB of answers owed, then a body under way
    time.sleep(0.8)
    received, owed = b"", 2 * len(response(*large_answer))
    while len(received) < owed:
        received += connection.recv(owed - len(received))
    time.sleep(0.5)  # 1.3 s after the body began, 0.5 s after the client read its answers
    connection.sendall(post[-5:])
    connection.settimeout(5)
    (status, _, body), = answers(read_all(connection))
    loop.call_soon_threadsafe(loop.stop)
    assert (status, json.loads(body)) == (200, {"body": "0123456789"})


def test_request_bytes_buffered_by_all_connections_together_are_bounded():
    """Past ServerState.max_buffered_bytes a body that grows gets 503 (and its bytes are released), while small
    bodies still pass and are answered; what each connection held is given back when it goes."""
    from ernie_distill.serving.http_server import SMALL_BODY_BYTES, ServerState

    state, refused = ServerState(max_buffered_bytes=5 * SMALL_BODY_BYTES), []
    state.on_refused = refused.append
    port, _, loop = serve_in_thread(echo, 5.0, 10 * SMALL_BODY_BYTES, state)
    part = b"y" * (2 * SMALL_BODY_BYTES)
    stalled = [send(port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                    % (10 * SMALL_BODY_BYTES, part)) for _ in range(3)]  # 2 of the 3 fit
    assert wait_for(lambda: refused == [503])
    assert 4 * SMALL_BODY_BYTES <= state.buffered_bytes <= 5 * SMALL_BODY_BYTES
    received, _ = exchange(port, request(b"POST", b"/p", b"small", b"Connection: close\r\n"))
    assert answers(received)[0][0] == 200
    statuses = []
    for connection in stalled:
        connection.settimeout(0.5)
        try:
            (status, headers, _), = answers(connection.recv(65536))
            statuses.append((status, headers["retry-after"], headers["connection"]))
        except TimeoutError:  # still being received
            statuses.append(None)
        connection.close()
    assert sorted(statuses, key=str) == [(503, "1", "close"), None, None]
    assert wait_for(lambda: state.buffered_bytes == 0)
    loop.call_soon_threadsafe(loop.stop)


def test_sigterm_answers_the_connections_waiting_in_the_kernels_accept_queue():
    """Connections the kernel accepted while the event loop was busy wait in the listening socket's queue, their
    requests sent: closing the socket would reset them unanswered. Here the loop is blocked (a request sleeping on it)
    when the signal is handled and while they connect."""
    import signal

    server, port = slow_server(graceful_timeout=10)
    second = send(port, b"")
    time.sleep(0.1)
    blocking = send(port, request(b"GET", b"/block0.4"))  # the loop blocked for 0.4 s from here
    time.sleep(0.1)
    server.send_signal(signal.SIGTERM)  # handled once the loop is free, and with it...
    time.sleep(0.05)
    second.sendall(request(b"GET", b"/block0.6"))  # ...this request, which blocks the loop again
    time.sleep(0.5)
    queued = [send(port, request(b"GET", b"/0")) for _ in range(10)]  # meanwhile
    for connection in (blocking, second):
        assert [status for status, _, _ in answers(read_all(connection))] == [200]
    for connection in queued:
        (status, headers, _), = answers(read_all(connection))
        assert (status, headers["connection"]) == (200, "close")
    assert server.wait(5) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's receive queue is looked at on Linux")
def test_a_client_pipelining_without_ever_waiting_for_an_answer_is_disconnected_whose_kernel_takes_them_all():
    """Its kernel takes every answer (a default receive buffer grows as they come), so nothing in the server's queues
    tells that they are not read; but its requests keep waiting behind the answers, the server never catching up:
    after `timeout` seconds of that it is disconnected. A client pipelining a few requests at a time and reading their
    answers in between is not."""
    async def slowly(method, path, body, content_type):  # 100 answers a second: what 200 such clients each get
        await asyncio.sleep(0.01)
        return await echo(method, path, body, content_type)

    disconnected = []
    state = ServerState(on_disconnected=lambda reason: disconnected.append((reason, time.monotonic())))
    port, _, loop = serve_in_thread(slowly, 0.5, 100, state)
    reader = socket.create_connection(("127.0.0.1", port), timeout=5)
    for _ in range(8):  # 2 s of batches of 20, each read before the next
        reader.sendall(request(b"GET", b"/b") * 20)
        received = b""
        while received.count(b"HTTP/1.1 200") < 20 or not received.endswith(b"}"):
            received += reader.recv(65536)
        time.sleep(0.05)
    reader.close()
    assert disconnected == []
    began = time.monotonic()
    pipeline_without_reading(socket.create_connection(("127.0.0.1", port)), disconnected, 0.002)
    loop.call_soon_threadsafe(loop.stop)
    (reason, at), = disconnected
    assert reason == "unread_answers" and 0.5 < at - began < 1.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's receive queue is looked at on Linux")
def test_a_client_keeping_two_requests_in_flight_and_reading_every_answer_is_not_disconnected():
    """A sliding window of pipelined requests (the next sent as each answer is read, as h2load -m 2 does): a request
    always waits behind the answer being made, yet the client reads them all, so it is never taken for one that does
    not read, however long it goes on."""
    async def slowly(method, path, body, content_type):
        await asyncio.sleep(0.005)
        return await echo(method, path, body, content_type)

    disconnected = []
    state = ServerState(on_disconnected=lambda reason: disconnected.append(reason))
    port, _, loop = serve_in_thread(slowly, 0.3, 100, state)
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    connection.sendall(request(b"GET", b"/a") * 2)
    received, answered, began = b"", 0, time.monotonic()
    while time.monotonic() < began + 1.5:  # five times the timeout
        data = connection.recv(65536)
        assert data, f"disconnected after {answered} answers: {disconnected}"
        received += data
        while b"}" in received:  # (each answer ends with its JSON body)
            received = received[received.index(b"}") + 1:]
            answered += 1
            connection.sendall(request(b"GET", b"/a"))
    connection.close()
    loop.call_soon_threadsafe(loop.stop)
    assert disconnected == [] and answered > 20  # (about 200 on a quiet machine)


class QueuedSocket:
    """A listening socket's stand-in whose accept() calls give, in turn, a connection or raise an error."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)

    def setblocking(self, flag):
        pass

    def accept(self):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome, ("127.0.0.1", 1)


def test_the_drain_accepts_every_queued_connection_past_one_its_client_reset(caplog, monkeypatch):
    """A connection reset while it waited in the accept queue (ECONNABORTED) is skipped, not the end of the queue;
    running out of file descriptors ends it, logged."""
    monkeypatch.setattr(logger, "propagate", True)  # into caplog
    assert accept_queued(QueuedSocket("a", ConnectionAbortedError(), "b", InterruptedError(), "c",
                                      BlockingIOError(), "never")) == ["a", "b", "c"]
    assert accept_queued(QueuedSocket("a", OSError(24, "Too many open files"), "never")) == ["a"]
    assert "past the first 1 (Too many open files)" in caplog.text
