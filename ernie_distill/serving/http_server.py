"""A small HTTP/1.1 server for serve.py: asyncio protocols around httptools' parser (llhttp, Node.js's), answering JSON.

Written for one-text requests by the thousand: uvicorn's ASGI machinery (a scope, a task, messages and two socket
writes a request) took twice the CPU a request of this server, which makes one write per answer (docs/serve.md).
What it does, so nothing else must:
- keep-alive connections, requests answered one at a time in order (pipelined ones wait their turn);
- a client gets `timeout` seconds for a request's headers (counted from the connection or the previous answer), else it
  is disconnected without an answer (told to on_disconnected), and as long again for the body, else 408 (both would
  otherwise hold a connection forever);
- a body over `max_body_bytes` gets 413 and headers over MAX_HEADER_BYTES 431, before they are read any further;
  malformed HTTP, a second Host header or a client that half-closes before its request is complete 400, a
  Content-Encoding other than identity or gzip 415 (gzip is decoded, to at most `max_body_bytes`); each of these comes
  after the answers owed to earlier (pipelined) requests and closes the connection, as the rest of the bytes cannot be
  trusted to be a request: gracefully, as a client may send its whole body before it reads (see finish());
- the request bodies buffered by all connections together are bounded (ServerState.max_buffered_bytes): a body that
  would grow past it gets 503 (bodies up to SMALL_BODY_BYTES always pass, so small requests are still answered);
- an upgrade offer (h2c, websocket) is ignored, as RFC 9110 section 7.8 allows: the request is answered in HTTP/1.1
  and the connection carries on;
- pipelined requests are parsed PIPELINE_DEPTH ahead of their answers (or the few more that the last FEED_BYTES fed
  to the parser hold): the rest waits unparsed, and the socket unread, until they are answered, so that a client
  pipelining requests costs a bounded amount of memory; one that half-closes gets its answers;
- a client that stops reading its answers gets no more requests read, and is disconnected (aborted) unless it reads
  them within `timeout` seconds; told to on_disconnected. It is taken as not reading once its answers pass the
  transport's high-water mark or, sooner, once the kernel holds over UNREAD_BYTES of them unacknowledged (Linux's
  TIOCOUTQ, looked at after each CHECK_BYTES written, then every RECHECK_SECONDS until they drain): the server's
  socket buffer alone grows to take megabytes (tcp_wmem, 4 MB by default) before the transport's fills. What the
  client's own kernel acknowledges counts as read: nothing else tells the server (a receive buffer fed slowly grows,
  keeping its window open), so a client that pipelines requests and never waits for an answer (its requests keep
  waiting behind its answers for `timeout` seconds on end) is taken as not reading too (see unread_requests());
- a request body is kept as the chunks received, joined once complete and released once answered; after a large
  one the C allocator is asked to give its free memory back to the system (glibc's malloc_trim), at most once a second;
- `Expect: 100-continue` is answered, HEAD gets its answer's headers without the body;
- SIGTERM (and SIGINT unless told otherwise) drains it: the connections already waiting in the kernel's accept queue
  are accepted, then no new connection is, idle connections close
  (IDLE_DRAIN_SECONDS later: a request in flight then is answered), every request already received is answered, the
  last answer of each connection with `Connection: close`; what is still open after `graceful_timeout` seconds (or
  at a second signal) is dropped, and logged;
- an HTTP/1.1 request without `Host` gets 400 and CONNECT 405 (this is no proxy), each closing the connection.
Every answer is {"error", "field"} JSON unless `answer` returns another.
"""
import asyncio
import collections
import ctypes
import http
import json
import signal
import sys
import zlib

try:
    from fcntl import ioctl
    from termios import FIONREAD, TIOCOUTQ  # (TIOCOUTQ equals SIOCOUTQ: bytes in a socket's send queue, not
    #                                          acknowledged by the peer; FIONREAD: bytes received, not read)
except ImportError:  # Windows
    TIOCOUTQ = FIONREAD = None

import httptools

from ..log import logger

MAX_HEADER_BYTES = 64 * 1024
BACKLOG = 2048  # connections waiting to be accepted
PIPELINE_DEPTH = 2  # pipelined requests parsed ahead of the one being answered (answers are made one at a time)
FEED_BYTES = 1024  # the parser is fed at most this much at a time outside a body, to stop at PIPELINE_DEPTH
LARGE_BODY_BYTES = 1 << 20  # after a body this large is released, free memory is given back to the system
UNREAD_BYTES = 64 * 1024  # answers the client's kernel has not acknowledged past which it is taken as not reading
CHECK_BYTES = 16 * 1024  # the kernel's send queue is looked at once this much has been written since the last look
RECHECK_SECONDS = 0.1  # and, while the client is behind, this often
IDLE_DRAIN_SECONDS = 0.2  # once the server drains, an idle connection stays open this long for a request in flight
DISCARD_BYTES = 64 << 20  # after a connection's last answer, at most this much more is read (and dropped) from it
SMALL_BODY_BYTES = 64 * 1024  # bodies up to this size pass the bound on buffered bytes (a one-text request is 100)
MAX_BUFFERED_BYTES = 256 << 20  # request bytes buffered by all connections together, by default


def error(message, field):
    return {"error": message, "field": field}


# made once, not for each answer
STATUS_LINES = {status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())
                for status in http.HTTPStatus}
_json = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def response(status, content, headers=(), head_only=False):
    """The bytes of an answer: a JSON body, or `content` as it is where it is bytes (its type then given in `headers`);
    the body is left out for HEAD, its length kept."""
    if isinstance(content, bytes):
        body, own_type = content, b""
    else:
        body, own_type = _json(content).encode(), b"content-type: application/json\r\n"
    extra = b"".join(b"%s: %s\r\n" % header for header in headers) if headers else b""
    return b"%s%scontent-length: %d\r\n%s\r\n%s" % (STATUS_LINES[status], own_type, len(body), extra,
                                                      b"" if head_only else body)


CLOSE = (b"connection", b"close")


def _malloc_trim():
    """glibc's malloc_trim(0), or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


MALLOC_TRIM = _malloc_trim()


class ServerState:
    """What the server's connections share: the open ones, whether it is draining (stopping gracefully),
    on_refused(status), told of each answer the server makes itself (malformed HTTP, oversized or stalled requests, a
    failing application), which the application never sees, and on_disconnected(reason), told of each client
    disconnected without an answer once `timeout` passed: "no_request" (no request's headers: an idle keep-alive
    connection, or a client too slow to send them), "unread_answers"; and the request bytes the connections buffer
    together (bodies being received, waiting for their answer or being answered), at most max_buffered_bytes."""

    def __init__(self, on_refused=lambda status: None, on_disconnected=lambda reason: None,
                 max_buffered_bytes=MAX_BUFFERED_BYTES):
        self.draining = False
        self.connections = set()
        self.on_refused, self.on_disconnected = on_refused, on_disconnected
        self.trim_scheduled = False
        self.buffered_bytes, self.max_buffered_bytes = 0, max_buffered_bytes

    def large_body_released(self):
        """Give the memory freed with a large request body back to the system within a second: glibc keeps freed
        chunks in its heap otherwise (measured: 60 stalled 6 MB bodies left the server 350 MB larger for good).
        One trim for all the bodies released meanwhile, as it takes milliseconds with a large heap."""
        if MALLOC_TRIM is None or self.trim_scheduled:
            return
        self.trim_scheduled = True

        def trim():
            self.trim_scheduled = False
            MALLOC_TRIM()

        asyncio.get_running_loop().call_later(1.0, trim)


class HttpConnection(asyncio.Protocol):
    """One client connection. `answer(method, path, body, content_type)` is a coroutine giving (status, content,
    headers); content_type is the request's Content-Type, lower case, without parameters ("" when it has none)."""

    def __init__(self, answer, timeout, max_body_bytes, state=None):
        self.answer, self.timeout, self.max_body_bytes = answer, timeout, max_body_bytes
        self.state = state or ServerState()
        self.parser = httptools.HttpRequestParser(self)
        self.transport = self.deadline = self.write_deadline = self.recheck = self.idle_close = self.fd = None
        self.pipelining = None  # while requests keep waiting behind the answer being made: its deadline
        self.pending = collections.deque()  # requests waiting for their answer: (method, path, body, type, keep-alive)
        self.unparsed = b""  # received, not yet fed to the parser (while PIPELINE_DEPTH requests wait)
        self.busy = False  # an answer is being computed
        self.closing = False  # the connection ends after the answers already owed
        self.eof = self.writing_paused = self.behind = self.lingering = False
        self.unchecked_bytes = 0  # answers written since the kernel's send queue was last looked at
        self.unparsed_header_bytes = 0  # received while the current request's headers are not complete
        self.counted = 0  # request bytes this connection holds, counted in state.buffered_bytes
        self.discarded = 0  # bytes read and dropped after the last answer
        self.resuming = False  # a fresh parser is being told where the request it takes over stands
        self.on_message_begin()
        self.in_message = False  # a request has begun to arrive (the parser's on_message_begin) and is not complete

    # the transport's calls
    def connection_made(self, transport):
        self.transport = transport
        self.fd = unsent_bytes_fd(transport)
        self.state.connections.add(self)
        self.set_deadline(self.no_request)  # the first request's headers
        if self.state.draining:  # accepted just before the server stopped accepting
            self.drain()

    def data_received(self, data):
        if self.lingering:  # what a client sent after its last answer: read and dropped, see finish()
            self.discarded += len(data)
            if self.discarded > DISCARD_BYTES:
                self.transport.close()
            return
        self.unparsed = memoryview(data)
        self.read_on()

    def read_on(self):
        """Parse what was received, and read the socket again only if there is room: fewer than PIPELINE_DEPTH
        requests waiting, nothing left unparsed, a client reading its answers, and a server not draining (what is
        received while it drains is answered, but no more is read)."""
        if self.lingering or self.transport.is_closing():
            return
        self.feed()
        if self.lingering:
            return
        if self.eof and not self.unparsed and self.in_message and not self.closing:
            self.refuse(400, "the connection was half-closed before the request was complete", "request")
        elif (self.unparsed or len(self.pending) >= PIPELINE_DEPTH or self.not_reading() or self.closing
                or (self.state.draining and not self.reading_a_request())):
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def reading_a_request(self):
        """Whether a request has begun to arrive and is not complete yet."""
        return self.in_message or self.unparsed_header_bytes > 0

    def feed(self):
        """Feed the parser what was received, in pieces, until PIPELINE_DEPTH requests wait for their answers (or
        the client stops reading them): headers FEED_BYTES at a time, a body up to its Content-Length at once."""
        while self.unparsed and len(self.pending) < PIPELINE_DEPTH and not self.not_reading() and not self.closing:
            size = max(FEED_BYTES, self.content_length - self.body_bytes) if self.in_body else FEED_BYTES
            piece, self.unparsed = self.unparsed[:size], self.unparsed[size:] or b""  # (not holding `data`)
            if not self.in_body:  # (llhttp reports a header only once its line is complete: count the raw bytes)
                if self.unparsed_header_bytes > MAX_HEADER_BYTES:
                    self.refuse(431, f"request headers over {MAX_HEADER_BYTES} bytes")
                    return
                self.unparsed_header_bytes += len(piece)
            try:
                self.parser.feed_data(piece)
            except httptools.HttpParserUpgrade as upgrade:
                self.ignore_upgrade(piece[upgrade.args[0]:])
            except httptools.HttpParserError as err:
                if not self.closing:  # (a callback that refused the request already answered)
                    self.refuse(400, f"malformed HTTP request: {err}")

    def ignore_upgrade(self, rest):
        """llhttp stops at a request offering an upgrade (h2c, websocket), taking what follows its headers for the new
        protocol, and has completed it without a body. This server takes no upgrade, so (RFC 9110, section 7.8) the
        request is answered in HTTP/1.1, and a fresh parser reads on: told first of the request's method, version and
        framing (its other headers are known), for its body, if it has one (see on_message_complete)."""
        if self.closing:
            return
        old, self.parser = self.parser, httptools.HttpRequestParser(self)
        self.unparsed = bytes(rest) + bytes(self.unparsed)
        if self.in_message:  # its body is still to come
            framing = (b"transfer-encoding: chunked" if self.chunked else b"content-length: %d" % self.content_length)
            self.resuming = True
            self.parser.feed_data(b"%s / HTTP/%s\r\n%s%s\r\n\r\n" % (
                old.get_method(), old.get_http_version().encode(), framing,
                b"" if old.should_keep_alive() else b"\r\nconnection: close"))
            self.resuming = False

    def eof_received(self):
        """The client has sent all it will (a half-close): answer what it asked, then close; a request left incomplete
        gets 400."""
        self.eof = True
        if self.lingering or (not self.busy and not self.pending and not self.in_message and not self.unparsed):
            self.transport.close()
        elif not self.unparsed and self.in_message and not self.closing:
            self.refuse(400, "the connection was half-closed before the request was complete", "request")
        return True  # keep the connection open for the answers

    def pause_writing(self):
        self.writing_paused = True
        self.answers_piling_up()

    def resume_writing(self):
        self.writing_paused = False
        self.answers_read()

    def not_reading(self):
        return self.writing_paused or self.behind

    def check_unsent(self):
        """Look at the kernel's send queue: past UNREAD_BYTES the client is behind, and looked at again every
        RECHECK_SECONDS until it has read (or is disconnected)."""
        self.unchecked_bytes, self.recheck = 0, None
        if self.transport.is_closing():
            return
        was_behind = self.behind
        self.behind = int.from_bytes(ioctl(self.fd, TIOCOUTQ, bytes(4)), sys.byteorder) > UNREAD_BYTES
        if self.behind:
            self.recheck = asyncio.get_running_loop().call_later(RECHECK_SECONDS, self.check_unsent)
            if not was_behind:
                self.answers_piling_up()
        elif was_behind:
            self.answers_read()

    def answers_piling_up(self):
        """The client does not read its answers: no more of its requests are read, and unless it reads within
        `timeout` it is disconnected (a close would wait for the unsent answers for ever). Meanwhile the request
        being received has no deadline of its own: the server, not the client, has stopped it."""
        self.transport.pause_reading()
        self.set_deadline(None)
        if self.write_deadline is None:
            self.write_deadline = asyncio.get_running_loop().call_later(self.timeout, self.answers_unread)

    def answers_read(self):
        if not self.not_reading():
            self.write_deadline.cancel()
            self.write_deadline = None
            if self.in_body:
                self.set_deadline(self.body_timed_out)
            elif not self.busy and not self.pending:
                self.set_deadline(self.no_request)  # the next request's headers
            self.read_on()

    def no_request(self):
        """No request's headers within `timeout`: an idle keep-alive connection, or a client too slow to send them."""
        self.state.on_disconnected("no_request")
        self.transport.close()

    def answers_unread(self):
        self.state.on_disconnected("unread_answers")
        self.transport.abort()

    def connection_lost(self, exc):
        self.closing = True
        self.state.connections.discard(self)
        self.set_deadline(None)
        for timer in (self.write_deadline, self.recheck, self.idle_close, self.pipelining):
            if timer is not None:
                timer.cancel()
        self.release_body()
        self.uncount(self.counted)  # (the requests it was owed answers for)

    def drain(self):
        """The server is stopping: a connection with requests under way closes after their answers, an idle one after
        IDLE_DRAIN_SECONDS unless a request begins to arrive meanwhile: one in flight when the signal came (or
        already in the kernel, unread) is answered, where closing at once would reset it unanswered."""
        self.idle_close = asyncio.get_running_loop().call_later(IDLE_DRAIN_SECONDS, self.close_if_idle)

    def close_if_idle(self):
        self.idle_close = None
        if self.lingering or self.transport.is_closing():  # (answered meanwhile: finish() closes it)
            return
        if not self.busy and not self.pending and not self.reading_a_request():
            self.transport.close()

    # the parser's calls
    def on_message_begin(self):
        if self.resuming:
            return
        self.url, self.header_bytes, self.in_body, self.in_message = b"", 0, False, True
        self.body, self.body_bytes = [], 0  # the chunks received: joined once complete (no copy while it grows)
        self.content_length, self.expect_continue, self.content_type, self.hosts = 0, False, "", 0
        self.encodings, self.chunked = None, False

    def on_url(self, url):
        if self.resuming:
            return
        self.url += url
        self.count_header_bytes(len(url))

    def on_header(self, name, value):
        if self.resuming:
            return
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
            self.hosts += 1
        elif name == b"content-encoding":  # (its codings, in the order applied, identity left out)
            codings = [coding.strip() for coding in value.lower().split(b",")]
            self.encodings = (self.encodings or []) + [coding for coding in codings if coding not in (b"", b"identity")]
        elif name == b"transfer-encoding":
            self.chunked = value.lower().rstrip().endswith(b"chunked")

    def on_headers_complete(self):
        if self.closing or self.resuming:
            return
        self.in_body, self.unparsed_header_bytes = True, 0
        self.set_deadline(self.body_timed_out)
        if self.parser.get_method() == b"CONNECT":
            self.refuse(405, "CONNECT: Method Not Allowed (this server is no proxy)", "method",
                        [(b"allow", b"GET, HEAD, POST")])
        elif self.hosts != 1 and (self.hosts or self.parser.get_http_version() == "1.1"):
            self.refuse(400, "a request needs one Host header" if self.hosts else
                        "an HTTP/1.1 request needs a Host header", "headers")
        elif self.content_length > self.max_body_bytes:
            self.refuse(413, f"request body over {self.max_body_bytes} bytes", "body")
        elif self.encodings and self.encodings not in ([b"gzip"], [b"x-gzip"]):
            self.refuse(415, f"Content-Encoding {b', '.join(self.encodings).decode('latin-1')} is not supported: "
                             "send the body as it is (identity) or gzip", "content-encoding")
        elif self.expect_continue and not self.busy and not self.pending:  # (not ahead of an answer owed)
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, chunk):
        if self.closing:
            return
        size = len(chunk)
        self.body.append(chunk)
        self.body_bytes += size
        self.counted += size
        self.state.buffered_bytes += size
        if self.body_bytes > self.max_body_bytes:
            self.refuse(413, f"request body over {self.max_body_bytes} bytes", "body")
        elif self.state.buffered_bytes > self.state.max_buffered_bytes and self.body_bytes > SMALL_BODY_BYTES:
            self.refuse(503, f"the server holds over {self.state.max_buffered_bytes} bytes of requests: try again",
                        "body", [(b"retry-after", b"1")])

    def on_message_complete(self):
        if self.closing:
            return
        if self.body_bytes == 0 and (self.content_length or self.chunked) and self.parser.should_upgrade():
            return  # (completed without its body, for an upgrade offer: see ignore_upgrade)
        self.set_deadline(None)
        self.in_body = self.in_message = False
        path = httptools.parse_url(self.url).path.decode("utf-8", "replace")
        method, keep_alive = self.parser.get_method().decode(), self.parser.should_keep_alive()
        body, self.body, self.body_bytes = b"".join(self.body), [], 0
        if self.encodings and body:
            body = self.gunzip(body)
            if body is None:
                return
        self.pending.append((method, path, body, self.content_type, keep_alive))
        if not self.busy:
            self.answer_next()
        elif self.pipelining is None:  # a client that never waits for its answers: see unread_requests()
            self.pipelining = asyncio.get_running_loop().call_later(self.timeout, self.answers_unread)

    def gunzip(self, body):
        """The body gzip-decoded, or None once the request is refused: one decoding to over `max_body_bytes`, 413, or
        not gzip, 400."""
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            decoded = decoder.decompress(body, self.max_body_bytes + 1)
        except zlib.error as err:
            decoded = None
            self.refuse(400, f"request body is not valid gzip: {err}", "body")
        else:
            if len(decoded) > self.max_body_bytes:
                self.refuse(413, f"request body decoded (gzip) over {self.max_body_bytes} bytes", "body")
                decoded = None
            elif not decoder.eof or decoder.unused_data:
                self.refuse(400, "request body is not one complete gzip stream", "body")
                decoded = None
        if decoded is None:
            self.uncount(len(body))
        else:
            self.counted += len(decoded) - len(body)
            self.state.buffered_bytes += len(decoded) - len(body)
        return decoded

    # answering
    def answer_next(self):
        if isinstance(self.pending[0], bytes):  # a refusal, owed after the answers before it
            self.transport.write(self.pending.popleft())
            self.finish()
            return
        method, path, body, content_type, keep_alive = self.pending.popleft()
        self.busy = True
        task = asyncio.ensure_future(self.answer(method, path, body, content_type))
        size = len(body)
        task.add_done_callback(lambda done: self.send(done, method == "HEAD", keep_alive, size))

    def send(self, done, head_only, keep_alive, body_bytes):
        """Write the answer of the finished task `done` (to a request of `body_bytes`), then go on to the next one."""
        self.busy = False
        if body_bytes:
            self.uncount(body_bytes)
            if body_bytes >= LARGE_BODY_BYTES:
                self.state.large_body_released()
        if self.transport.is_closing() or done.cancelled():  # the client went away, or the server is stopping
            return
        keep_alive = keep_alive and not (self.state.draining and not self.pending
                                         and not self.reading_a_request())  # (the request being read is answered)
        try:
            status, content, headers = done.result()
            data = response(status, content, [*headers, *([] if keep_alive else [CLOSE])], head_only)
        except Exception:  # a bug in `answer`: the client learns that much, the server carries on
            logger.exception("answering a request failed")
            self.state.on_refused(500)
            headers = [] if keep_alive else [CLOSE]
            data = response(500, error("internal error; the server's log says why", None), headers, head_only)
        self.transport.write(data)
        self.unchecked_bytes += len(data)
        if self.unchecked_bytes >= CHECK_BYTES and self.fd is not None and not self.behind:
            self.check_unsent()
        if self.state.draining and not keep_alive:
            self.finish()
        elif not keep_alive or CLOSE in headers:
            self.transport.close()
        elif self.pending:
            self.answer_next()
            self.read_on()
        elif self.closing or self.eof:
            self.transport.close()
        else:
            if not self.in_body and not self.not_reading():  # (a body has its own; one behind, the write one)
                self.set_deadline(self.no_request)  # the next request's headers
            self.read_on()
        if (self.pipelining is not None and not self.transport.is_closing() and not self.pending and not self.unparsed
                and not self.unread_requests()):
            self.pipelining.cancel()  # caught up with the client: no request waits behind the one being answered
            self.pipelining = None

    def unread_requests(self):
        """Whether bytes the client sent wait unread in the kernel (FIONREAD; where it cannot be asked, no).

        A client's kernel may take megabytes of answers its application never reads (on Linux its receive buffer
        grows as they come, its window stays open: measured, 6.5 MB in 18 s), so the server cannot see that they are
        not read. What it can see is a client pipelining requests that never waits for an answer: one that keeps
        requests waiting behind its answers, in the parser or the kernel, for `timeout` seconds on end (the server
        never once down to the one request it is answering) is taken as not reading them, and disconnected; one that
        keeps a window of requests in flight, sending the next as it reads an answer, lets it get down to one."""
        return self.fd is not None and int.from_bytes(ioctl(self.fd, FIONREAD, bytes(4)), sys.byteorder) > 0

    def finish(self):
        """Close after a connection's last answer (a refusal, or the last of a drained one) without losing it: closing
        a socket with unread bytes (the rest of a refused body, requests the client pipelined after it) sends a reset,
        which can destroy the answer still in flight, before a client that sends its whole body first reads it. So
        send our end's FIN, read and drop what comes until the client closes too, and close at the latest after
        `timeout` or DISCARD_BYTES."""
        self.lingering, self.unparsed = True, b""
        if self.eof or not self.transport.can_write_eof():  # (a client that half-closed sends nothing more)
            self.transport.close()
            return
        self.transport.write_eof()
        self.transport.resume_reading()
        self.set_deadline(self.transport.close)

    def release_body(self):
        """Drop a body left unfinished (the connection is gone, or the request refused), giving its memory back if it
        was large."""
        if self.body_bytes >= LARGE_BODY_BYTES:
            self.state.large_body_released()
        self.uncount(self.body_bytes)
        self.body, self.body_bytes = [], 0

    def uncount(self, size):
        """Take `size` bytes this connection no longer holds off the server's count (none twice)."""
        size = min(size, self.counted)
        self.counted -= size
        self.state.buffered_bytes -= size

    def refuse(self, status, message, field="request", headers=()):
        """Answer the request being read with an error, after the answers owed before it, and close the connection."""
        self.set_deadline(None)
        self.closing = True
        self.transport.pause_reading()
        self.release_body()
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


def unsent_bytes_fd(transport):
    """The file descriptor of the transport's socket if TIOCOUTQ tells its unacknowledged bytes (Linux), else None."""
    sock = transport.get_extra_info("socket")
    if TIOCOUTQ is None or sock is None:
        return None
    try:
        ioctl(sock.fileno(), TIOCOUTQ, bytes(4))
    except OSError:  # (a BSD's TIOCOUTQ is for terminals only)
        return None
    return sock.fileno()


def accept_queued(sock):
    """The connections waiting in the listening socket's accept queue (the kernel completed their handshakes, and
    clients may have sent their requests), accepted at once."""
    sock.setblocking(False)
    queued = []
    while True:
        try:
            queued.append(sock.accept()[0])
        except BlockingIOError:  # the queue is empty
            return queued
        except (ConnectionAbortedError, InterruptedError):  # one its client reset while it waited: on to the next
            continue
        except OSError as err:  # out of file descriptors or memory: those accepted are answered, the rest dropped
            logger.warning("stopping: could not accept the queued connections past the first %d (%s)", len(queued),
                           err.strerror or err)
            return queued


def serve_forever(sock, answer, timeout, max_body_bytes, on_listening=None, stop_on_interrupt=True, state=None,
                  graceful_timeout=30.0, stop_requested=lambda: False):
    """Answer HTTP requests on the listening socket until SIGTERM (or SIGINT, with stop_on_interrupt) arrives, then
    drain (see the module's notes) for at most graceful_timeout seconds; stop_requested() says whether a stop came
    before the loop took the signals over. Runs on uvloop where it is installed (a fifth less CPU a request than
    asyncio's own loop)."""
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
        if stop_requested():
            on_signal()

        def new_connection():
            return HttpConnection(answer, timeout, max_body_bytes, state)

        server = await loop.create_server(new_connection, sock=sock, backlog=BACKLOG)
        if on_listening is not None:
            on_listening()
        await stop.wait()
        state.draining = True
        queued = accept_queued(sock)  # (closing the socket would reset them)
        server.close()  # no new connections
        await asyncio.gather(*(loop.connect_accepted_socket(new_connection, client) for client in queued),
                             return_exceptions=True)
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
