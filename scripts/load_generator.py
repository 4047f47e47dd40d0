"""Concurrent HTTP clients for the serving benchmark: each keeps one connection open and sends one request at a time.

A thread per client with `requests` costs the client about a millisecond of CPU per request, on the same two cores the
server needs, so the figure measured the client. These clients are coroutines writing raw HTTP/1.1 on keep-alive
connections (what a client's connection pool does), a few tens of microseconds per request.
"""
import asyncio
import json
import re
import time
from urllib.parse import urlsplit

_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


async def _run(host, port, path, bodies, clients):
    pending, latencies = iter(bodies), []

    async def client():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for body in pending:  # the clients share one iterator: each body is sent once
                began = time.perf_counter()
                writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d"
                             b"\r\n\r\n%s" % (path.encode(), host.encode(), len(body), body))
                head = await reader.readuntil(b"\r\n\r\n")
                answer = await reader.readexactly(int(_CONTENT_LENGTH.search(head).group(1)))
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{path} answered {head.split(b' ', 2)[1].decode()}: {answer.decode()[:300]}")
                latencies.append(time.perf_counter() - began)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def post_concurrently(url, payloads, clients):
    """POST each JSON payload to `url` from `clients` concurrent keep-alive connections: (wall seconds, latencies)."""
    parts = urlsplit(url)
    bodies = [json.dumps(p, ensure_ascii=False).encode() for p in payloads]
    began = time.perf_counter()
    latencies = asyncio.run(_run(parts.hostname, parts.port, parts.path, bodies, clients))
    return time.perf_counter() - began, latencies
