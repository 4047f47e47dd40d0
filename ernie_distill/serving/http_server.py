"""A small HTTP/1.1 server for serve.py: asyncio protocols around httptools' parser (llhttp, Node.js's), answering JSON.

Written for one-text requests by the thousand: uvicorn's ASGI machinery (a scope, a task, messages and two socket
writes a request) took twice the CPU a request of this server, which makes one write per answer (docs/serve.md).
What it does, so nothing else must:
- keep-alive connections, requests answered one at a time in order (pipelined ones wait their turn);
- a client gets `timeout` seconds for a request's headers (counted from the connection or the previous answer), else it
  is disconnected without an answer, and as long again for the body, else 408 (both would otherwise hold a connection
  forever);
- a body over `max_body_bytes` gets 413 and headers over MAX_HEADER_BYTES 431, before they are read any further;
  malformed HTTP gets 400; each of these comes after the answers owed to earlier (pipelined) requests and closes the
  connection, as the rest of the bytes cannot be trusted to be a request; a request asking for an upgrade (h2c,
  websocket) is answered in HTTP/1.1, then the connection closes;
- a client that stops reading its answers gets no more requests read; one that half-closes gets its answers;
- `Expect: 100-continue` is answered, HEAD gets its answer's headers without the body;
- SIGTERM (and SIGINT unless told otherwise) drains it: no new connection is accepted, idle connections close, every
  request already received is answered, the last answer of each connection with `Connection: close`; what is still
  open after `graceful_timeout` seconds (or at a second signal) is dropped, and logged;
- an HTTP/1.1 request without `Host` gets 400 and CONNECT 405 (this is no proxy), each closing the connection.
Every answer is {"error", "field"} JSON unless `answer` returns another.
"""
import asyncio
import collections
import http
import json
import signal

import httptools

from ..log import logger

MAX_HEADER_BYTES = 64 * 1024
BACKLOG = 2048  # connections waiting to be accepted


def error(message, field):
    return {"error": message, "field": field}


def response(status, content, headers=(), head_only=False):
    """The bytes of an answer: a JSON body, or `content` as it is where it is bytes (its type then given in `headers`);
    the body is left out for HEAD, its length kept."""
    if isinstance(content, bytes):
        body, own_type = content, []
    else:
        body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        own_type = [b"content-type: application/json"]
    lines = [b"HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase.encode()), *own_type,
             b"content-length: %d" % len(body), *(b"%s: %s" % header for header in headers)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if head_only else body)


CLOSE = (b"connection", b"close")


class ServerState:
    """What the server's connections share: the open ones, whether it is draining (stopping gracefully), and
    on_refused(status), told of each answer the server makes itself (malformed HTTP, oversized or stalled requests, a
    failing application), which the application never sees."""

    def __init__(self, on_refused=None):
        self.draining = False
        self.connections = set()
        self.on_refused = on_refused


class HttpConnection(asyncio.Protocol):
    """One client connection. `answer(method, path, body, content_type)` is a coroutine giving (status, content,
    headers); content_type is the request's Content-Type, lower case, without parameters ("" when it has none)."""

    def __init__(self, answer, timeout, max_body_bytes, state=None):
        self.answer, self.timeout, self.max_body_bytes = answer, timeout, max_body_bytes
        self.state = state or ServerState()
        self.parser = httptools.HttpRequestParser(self)
        self.transport = self.deadline = None
        self.pending = collections.deque()  # requests waiting for their answer: (method, path, body, type, keep-alive)
        self.busy = False  # an answer is being computed
        self.closing = False  # the connection ends after the answers already owed
        self.eof = self.writing_paused = self.lingering = False
        self.unparsed_header_bytes = 0  # received while the current request's headers are not complete
        self.on_message_begin()

    # the transport's calls
    def connection_made(self, transport):
        self.transport = transport
        self.state.connections.add(self)
        self.set_deadline(self.transport.close)  # the first request's headers
        if self.state.draining:  # accepted just before the server stopped accepting
            self.drain()

    def data_received(self, data):
        if self.lingering:  # what a drained client sent after its last answer: read and dropped, see finish()
            return
        if not self.in_body:  # (llhttp reports a header only once its line is complete: count the raw bytes)
            if self.unparsed_header_bytes > MAX_HEADER_BYTES:
                self.refuse(431, f"request headers over {MAX_HEADER_BYTES} bytes")
                return
            self.unparsed_header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # (h2c, websocket): the request is answered as HTTP/1.1, then the
            self.closing = True              # connection ends, as the parser reads no further
            self.transport.pause_reading()
            if not self.busy and not self.pending:
                self.transport.close()
        except httptools.HttpParserError as err:
            if not self.closing:  # (a callback that refused the request already answered)
                self.refuse(400, f"malformed HTTP request: {err}")

    def eof_received(self):
        """The client has sent all it will (a half-close): answer what it asked, then close."""
        self.eof = True
        if self.lingering or (not self.busy and not self.pending):
            self.transport.close()
        return True  # keep the connection open for the answers

    def pause_writing(self):  # a client that does not read its answers gets no more requests read
        self.writing_paused = True
        self.transport.pause_reading()

    def resume_writing(self):
        self.writing_paused = False
        if not self.pending and not self.closing:
            self.transport.resume_reading()

    def connection_lost(self, exc):
        self.closing = True
        self.state.connections.discard(self)
        self.set_deadline(None)

    def drain(self):
        """The server is stopping: an idle connection closes now, one with requests under way after their answers."""
        if not self.busy and not self.pending and not self.in_body and not self.unparsed_header_bytes:
            self.transport.close()

    # the parser's calls
    def on_message_begin(self):
        self.url, self.body, self.header_bytes, self.in_body = b"", bytearray(), 0, False
        self.content_length, self.expect_continue, self.content_type, self.has_host = 0, False, "", False

    def on_url(self, url):
        self.url += url
        self.count_header_bytes(len(url))

    def on_header(self, name, value):
        self.count_header_bytes(len(name) + len(value))
        name = name.lower()
        if name == b"content-length" and value.strip().isdigit():  # (the parser refuses any other)
            digits = value.strip().lstrip(b"0")
            self.content_length = int(digits or b"0") if len(digits) < 19 else self.max_body_bytes + 1
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        elif name == b"content-type":
            self.content_type = value.split(b";")[0].strip().lower().decode("latin-1")
        elif name == b"host":
            self.has_host = True

    def on_headers_complete(self):
        if self.closing:
            return
        self.in_body, self.unparsed_header_bytes = True, 0
        self.set_deadline(self.body_timed_out)
        if self.parser.get_method() == b"CONNECT":
            self.refuse(405, "CONNECT: Method Not Allowed (this server is no proxy)", "method",
                        [(b"allow", b"GET, HEAD, POST")])
        elif not self.has_host and self.parser.get_http_version() == "1.1":
            self.refuse(400, "an HTTP/1.1 request needs a Host header", "headers")
        elif self.content_length > self.max_body_bytes:
            self.refuse(413, f"request body over {self.max_body_bytes} bytes", "body")
        elif self.expect_continue and not self.busy and not self.pending:  # (not ahead of an answer owed)
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk):
        if self.closing:
            return
        self.body += chunk
        if len(self.body) > self.max_body_bytes:
            self.refuse(413, f"request body over {self.max_body_bytes} bytes", "body")

    def on_message_complete(self):
        if self.closing:
            return
        self.set_deadline(None)
        self.in_body = False
        path = httptools.parse_url(self.url).path.decode("utf-8", "replace")
        method, keep_alive = self.parser.get_method().decode(), self.parser.should_keep_alive()
        self.pending.append((method, path, bytes(self.body), self.content_type, keep_alive))
        if len(self.pending) > 1:
            self.transport.pause_reading()  # a client pipelining requests waits for its answers before sending more
        if not self.busy:
            self.answer_next()

    # answering
    def answer_next(self):
        if isinstance(self.pending[0], bytes):  # a refusal, owed after the answers before it
            self.transport.write(self.pending.popleft())
            self.transport.close()
            return
        method, path, body, content_type, keep_alive = self.pending.popleft()
        self.busy = True
        task = asyncio.ensure_future(self.answer(method, path, body, content_type))
        task.add_done_callback(lambda done: self.send(done, method == "HEAD", keep_alive))

    def send(self, done, head_only, keep_alive):
        """Write the answer of the finished task `done`, then go on to the next request."""
        self.busy = False
        if self.transport.is_closing() or done.cancelled():  # the client went away, or the server is stopping
            return
        keep_alive = keep_alive and not (self.state.draining and not self.pending and not self.in_body
                                         and not self.unparsed_header_bytes)  # (the request being read is answered)
        try:
            status, content, headers = done.result()
            data = response(status, content, [*headers, *([] if keep_alive else [CLOSE])], head_only)
        except Exception:  # a bug in `answer`: the client learns that much, the server carries on
            logger.exception("answering a request failed")
            if self.state.on_refused is not None:
                self.state.on_refused(500)
            headers = [] if keep_alive else [CLOSE]
            data = response(500, error("internal error; the server's log says why", None), headers, head_only)
        self.transport.write(data)
        if self.state.draining and not keep_alive:
            self.finish()
        elif not keep_alive or CLOSE in headers:
            self.transport.close()
        elif self.pending:
            self.answer_next()
        elif self.closing or self.eof:
            self.transport.close()
        else:
            if not self.writing_paused:
                self.transport.resume_reading()
            if not self.in_body:  # (a body already under way keeps its own deadline)
                self.set_deadline(self.transport.close)  # the next request's headers

    def finish(self):
        """Close after a drained connection's last answer without losing it: closing a socket with unread bytes
        (requests the client pipelined after it) sends a reset, which can destroy the answer still in flight. So send
        our end's FIN, read and drop what comes until the client closes too, and close at the latest after `timeout`."""
        self.lingering = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.transport.resume_reading()
        self.set_deadline(self.transport.close)

    def refuse(self, status, message, field="request", headers=()):
        """Answer the request being read with an error, after the answers owed before it, and close the connection."""
        self.set_deadline(None)
        self.closing = True
        self.transport.pause_reading()
        if self.state.on_refused is not None:
            self.state.on_refused(status)
        self.pending.append(response(status, error(message, field), [*headers, CLOSE]))
        if not self.busy:
            self.answer_next()

    def body_timed_out(self):
        self.refuse(408, f"request body not received within {self.timeout:g} s", "body")

    def count_header_bytes(self, count):
        self.header_bytes += count
        if self.header_bytes > MAX_HEADER_BYTES and not self.closing:
            self.refuse(431, f"request headers over {MAX_HEADER_BYTES} bytes")

    def set_deadline(self, on_expiry):
        """Call on_expiry after `timeout` seconds unless set again first (None: no deadline)."""
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = None if on_expiry is None else asyncio.get_running_loop().call_later(self.timeout, on_expiry)


def serve_forever(sock, answer, timeout, max_body_bytes, on_listening=None, stop_on_interrupt=True, state=None,
                  graceful_timeout=30.0):
    """Answer HTTP requests on the listening socket until SIGTERM (or SIGINT, with stop_on_interrupt) arrives, then
    drain (see the module's notes) for at most graceful_timeout seconds. Runs on uvloop where it is installed (a fifth
    less CPU a request than asyncio's own loop)."""
    state = state or ServerState()

    async def main():
        loop = asyncio.get_running_loop()
        stop, now = asyncio.Event(), asyncio.Event()  # the first signal drains, a second one stops at once

        def on_signal():
            (now if stop.is_set() else stop).set()

        for signum in (signal.SIGTERM, signal.SIGINT) if stop_on_interrupt else (signal.SIGTERM,):
            try:
                loop.add_signal_handler(signum, on_signal)
            except NotImplementedError:  # Windows: Ctrl-C stops it as KeyboardInterrupt
                pass
        server = await loop.create_server(lambda: HttpConnection(answer, timeout, max_body_bytes, state), sock=sock,
                                          backlog=BACKLOG)
        if on_listening is not None:
            on_listening()
        await stop.wait()
        state.draining = True
        server.close()  # no new connections
        logger.info("stopping: no new connections; answering what %d open connection(s) sent (at most %g s; a second "
                    "signal stops at once)", len(state.connections), graceful_timeout)
        for connection in list(state.connections):
            connection.drain()
        deadline = loop.time() + graceful_timeout
        while state.connections and loop.time() < deadline and not now.is_set():
            await asyncio.sleep(0.02)
        if state.connections:
            logger.warning("stopping: %d connection(s) still open %s, dropped", len(state.connections),
                           "at a second signal" if now.is_set() else f"after --graceful_timeout {graceful_timeout:g} s")
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:  # what is left: its clients get no answer, and nothing is left half-done
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        logger.info("stopped")

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
