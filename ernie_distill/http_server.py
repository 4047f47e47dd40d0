"""A small HTTP/1.1 server for serve.py: asyncio protocols around httptools' parser (llhttp, Node.js's), answering JSON.

Written for one-text requests by the thousand: uvicorn's ASGI machinery (a scope, a task, messages and two socket
writes a request) took twice the CPU a request of this server, which makes one write per answer (README, "4. Serve").
What it does, so nothing else must:
- keep-alive connections, requests answered one at a time in order (pipelined ones wait their turn);
- a client gets `timeout` seconds for a request's headers (counted from the connection or the previous answer), else it
  is disconnected without an answer, and as long again for the body, else 408 (both would otherwise hold a connection
  forever);
- a body over `max_body_bytes` gets 413 and headers over MAX_HEADER_BYTES 431, before they are read any further;
  malformed HTTP gets 400; each of these closes the connection, as the rest of the bytes cannot be trusted to be a
  request;
- `Expect: 100-continue` is answered, HEAD gets its answer's headers without the body, SIGTERM (and SIGINT unless told
  otherwise) stops it.
Every answer is {"error", "field"} JSON unless `answer` returns another.
"""
import asyncio
import collections
import http
import json
import signal

import httptools

from .log import logger

MAX_HEADER_BYTES = 64 * 1024
BACKLOG = 2048  # connections waiting to be accepted


def error(message, field):
    return {"error": message, "field": field}


def response(status, content, headers=(), head_only=False):
    """The bytes of an answer with a JSON body (left out for HEAD, its length kept)."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    lines = [b"HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase.encode()),
             b"content-type: application/json", b"content-length: %d" % len(body),
             *(b"%s: %s" % header for header in headers)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b"" if head_only else body)


CLOSE = (b"connection", b"close")


class HttpConnection(asyncio.Protocol):
    """One client connection. `answer(method, path, body)` is a coroutine giving (status, content, headers)."""

    def __init__(self, answer, timeout, max_body_bytes):
        self.answer, self.timeout, self.max_body_bytes = answer, timeout, max_body_bytes
        self.parser = httptools.HttpRequestParser(self)
        self.transport = self.deadline = None
        self.pending = collections.deque()  # requests waiting for their answer: (method, path, body, keep-alive)
        self.busy = False  # an answer is being computed
        self.on_message_begin()

    # the transport's calls
    def connection_made(self, transport):
        self.transport = transport
        self.set_deadline(self.transport.close)  # the first request's headers

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as err:
            if not self.transport.is_closing():  # (a callback that refused the request already answered)
                self.refuse(400, f"malformed HTTP request: {err}")

    def connection_lost(self, exc):
        self.set_deadline(None)

    # the parser's calls
    def on_message_begin(self):
        self.url, self.body, self.header_bytes, self.in_body = b"", bytearray(), 0, False
        self.content_length, self.expect_continue = 0, False

    def on_url(self, url):
        self.url += url
        self.count_header_bytes(len(url))

    def on_header(self, name, value):
        self.count_header_bytes(len(name) + len(value))
        name = name.lower()
        if name == b"content-length" and value.strip().isdigit():  # (the parser refuses any other)
            self.content_length = int(value)
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self):
        if self.transport.is_closing():
            return
        self.in_body = True
        self.set_deadline(self.body_timed_out)
        if self.content_length > self.max_body_bytes:
            self.refuse(413, f"request body over {self.max_body_bytes} bytes", "body")
        elif self.expect_continue:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk):
        if self.transport.is_closing():
            return
        self.body += chunk
        if len(self.body) > self.max_body_bytes:
            self.refuse(413, f"request body over {self.max_body_bytes} bytes", "body")

    def on_message_complete(self):
        if self.transport.is_closing():
            return
        self.set_deadline(None)
        self.in_body = False
        path = httptools.parse_url(self.url).path.decode("utf-8", "replace")
        method, keep_alive = self.parser.get_method().decode(), self.parser.should_keep_alive()
        self.pending.append((method, path, bytes(self.body), keep_alive))
        if len(self.pending) > 1:
            self.transport.pause_reading()  # a client pipelining requests waits for its answers before sending more
        if not self.busy:
            self.answer_next()

    # answering
    def answer_next(self):
        method, path, body, keep_alive = self.pending.popleft()
        self.busy = True
        task = asyncio.ensure_future(self.answer(method, path, body))
        task.add_done_callback(lambda done: self.send(done, method == "HEAD", keep_alive))

    def send(self, done, head_only, keep_alive):
        """Write the answer of the finished task `done`, then go on to the next request."""
        self.busy = False
        if self.transport.is_closing():  # the client went away
            return
        try:
            status, content, headers = done.result()
            data = response(status, content, [*headers, *([] if keep_alive else [CLOSE])], head_only)
        except Exception:  # a bug in `answer`: the client learns that much, the server carries on
            logger.exception("answering a request failed")
            headers = [] if keep_alive else [CLOSE]
            data = response(500, error("internal error; the server's log says why", None), headers, head_only)
        self.transport.write(data)
        if not keep_alive or CLOSE in headers:
            self.transport.close()
        elif self.pending:
            self.answer_next()
        else:
            self.transport.resume_reading()
            if not self.in_body:  # (a body already under way keeps its own deadline)
                self.set_deadline(self.transport.close)  # the next request's headers

    def refuse(self, status, message, field="request"):
        """Answer the request being read with an error and close the connection."""
        self.set_deadline(None)
        self.transport.write(response(status, error(message, field), [CLOSE]))
        self.transport.close()

    def body_timed_out(self):
        self.refuse(408, f"request body not received within {self.timeout:g} s", "body")

    def count_header_bytes(self, count):
        self.header_bytes += count
        if self.header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.refuse(431, f"request headers over {MAX_HEADER_BYTES} bytes")

    def set_deadline(self, on_expiry):
        """Call on_expiry after `timeout` seconds unless set again first (None: no deadline)."""
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = None if on_expiry is None else asyncio.get_running_loop().call_later(self.timeout, on_expiry)


def serve_forever(sock, answer, timeout, max_body_bytes, on_listening=None, stop_on_interrupt=True):
    """Answer HTTP requests on the listening socket until SIGTERM (or SIGINT, with stop_on_interrupt) arrives. Runs on
    uvloop where it is installed (a fifth less CPU a request than asyncio's own loop)."""

    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT) if stop_on_interrupt else (signal.SIGTERM,):
            loop.add_signal_handler(signum, stop.set)
        server = await loop.create_server(lambda: HttpConnection(answer, timeout, max_body_bytes), sock=sock,
                                          backlog=BACKLOG)
        if on_listening is not None:
            on_listening()
        await stop.wait()
        server.close()

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
