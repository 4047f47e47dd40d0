"""Micro-batching for the HTTP server: the texts of concurrent requests go through the model in one call.

The first waiting request opens a batch; requests arriving within the next `max_wait_ms` join it. With no wait (the
server's default), a batch is whatever queued while the model was busy: one request alone at low load, large batches
under load, and never a sleep. A call takes at most `max_batch` texts, shared fairly among the waiting requests (each
gets as many as it needs up to an equal share of what the smaller ones leave): a request larger than that goes through
in several calls, interleaved with the other clients' requests, so that a one-text request waits for at most about
two calls, not for every large request queued before it.
Calls never overlap (a Paddle predictor is not thread-safe). They run on a worker thread, so that the event loop stays
free to read the next requests meanwhile, or with `inline` on the event loop itself (which then gets a turn between
calls): for a model whose calls take milliseconds (a student) the hand-off to a thread and back cost more than the loop
gains, and requests wait in the socket's buffer meanwhile. Each request gets back exactly its own results, in order.
"""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from ..log import logger


class Request:
    """A request's texts, how many of them have gone to the model, and its results as they come."""

    __slots__ = ("texts", "future", "taken", "results", "left")

    def __init__(self, texts, future):
        self.texts, self.future, self.taken, self.results, self.left = texts, future, 0, [None] * len(texts), len(texts)


def shares(waiting, max_batch):
    """[(request, start, end)]: the texts of the waiting requests that go into the next call, at most max_batch, shared
    max-min fairly (the smaller requests take what they need, the larger ones an equal share of what is left); with
    more requests than max_batch, one text each of the first ones."""
    wanted = sorted(waiting, key=lambda request: len(request.texts) - request.taken)  # (stable: arrival order kept)
    pieces, left = [], max_batch
    for i, request in enumerate(wanted):
        take = min(len(request.texts) - request.taken, max(1, left // (len(wanted) - i)))
        if take <= 0 or left <= 0:
            break
        pieces.append((request, request.taken, request.taken + take))
        left -= take
    return pieces


class MicroBatcher:
    def __init__(self, predict, max_batch=64, max_wait_ms=0.0, inline=False, on_call=None):
        """on_call(texts, seconds), if given, is told of each model call that succeeded."""
        self.predict, self.max_batch, self.max_wait, self.on_call = predict, max_batch, max_wait_ms / 1000, on_call
        self.waiting, self.arrived, self.task = [], None, None  # requests with texts not yet through the model
        self.worker = None if inline else ThreadPoolExecutor(1, thread_name_prefix="model")
        self.calls = self.texts = 0  # model calls made and texts predicted, for /health

    def queued(self):
        """Requests waiting for a model call."""
        return len(self.waiting)

    async def submit(self, texts):
        """The predictions for `texts`, computed together with whatever other requests are waiting."""
        if not texts:  # (nothing for the model: shares() would take nothing from it, forever)
            return []
        loop = asyncio.get_running_loop()
        if self.task is None:  # created on first use, inside the server's event loop
            self.arrived = asyncio.Event()
            self.task = loop.create_task(self._run())
        request = Request(texts, loop.create_future())
        self.waiting.append(request)
        self.arrived.set()
        return await request.future

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            if not self.waiting:
                self.arrived.clear()
                await self.arrived.wait()
                if self.max_wait:
                    await asyncio.sleep(self.max_wait)  # let concurrent requests arrive
            self.waiting = [request for request in self.waiting if not request.future.done()]  # (clients gone)
            pieces = shares(self.waiting, self.max_batch)
            if not pieces:
                continue
            for request, _, end in pieces:
                request.taken = end
            texts = [text for request, start, end in pieces for text in request.texts[start:end]]
            self.calls, self.texts = self.calls + 1, self.texts + len(texts)
            started = time.perf_counter()
            try:
                if self.worker is None:
                    results = self.predict(texts)
                else:
                    results = await loop.run_in_executor(self.worker, self.predict, texts)
            except Exception as err:  # logged once; every request of the call learns of it; the loop carries on
                logger.exception("model call on %d texts failed", len(texts))
                for request, _, _ in pieces:
                    if not request.future.done():
                        request.future.set_exception(err)
                self.waiting = [request for request in self.waiting if not request.future.done()]
                continue
            if self.on_call is not None:
                self.on_call(len(texts), time.perf_counter() - started)
            offset, finished = 0, False
            for request, start, end in pieces:
                request.results[start:end] = results[offset : offset + end - start]
                offset += end - start
                request.left -= end - start
                if request.left == 0:
                    finished = True
                    if not request.future.done():  # a client that went away leaves a cancelled future
                        request.future.set_result(request.results)
            if finished:
                self.waiting = [request for request in self.waiting if request.left]
            if self.worker is None and self.waiting:
                await asyncio.sleep(0)  # the event loop's turn: requests that arrived meanwhile join the next call
