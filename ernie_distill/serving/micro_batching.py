"""Micro-batching for the HTTP server: the texts of concurrent requests go through the model in one call.

The first waiting request opens a batch; requests arriving within the next `max_wait_ms` join it, up to `max_batch`
texts (the rest wait for the next batch). With no wait (the server's default), a batch is whatever queued while the
model was busy: one request alone at low load, large batches under load, and never a sleep.
Calls never overlap (a Paddle predictor is not thread-safe). They run on a worker thread, so that the event loop stays
free to read the next requests meanwhile, or with `inline` on the event loop itself: for a model whose calls take
milliseconds (a student) the hand-off to a thread and back cost more than the loop gains, and requests wait in the
socket's buffer meanwhile. Each request gets back exactly its own results, in order.
"""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from ..log import logger


class MicroBatcher:
    def __init__(self, predict, max_batch=64, max_wait_ms=0.0, inline=False, on_call=None):
        """on_call(texts, seconds), if given, is told of each model call that succeeded."""
        self.predict, self.max_batch, self.max_wait, self.on_call = predict, max_batch, max_wait_ms / 1000, on_call
        self.queue, self.task = None, None
        self.worker = None if inline else ThreadPoolExecutor(1, thread_name_prefix="model")
        self.held = None  # a request that did not fit in the last batch: it opens the next one
        self.calls = self.texts = 0  # model calls made and texts predicted, for /health

    def queued(self):
        """Requests waiting for a model call."""
        return (self.queue.qsize() if self.queue is not None else 0) + (self.held is not None)

    async def submit(self, texts):
        """The predictions for `texts`, computed together with whatever other requests are waiting."""
        if self.task is None:  # created on first use, inside the server's event loop
            self.queue = asyncio.Queue()
            self.task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((texts, future))  # (unbounded: never waits)
        return await future

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            batch, self.held = [self.held or await self.queue.get()], None
            if self.max_wait:
                await asyncio.sleep(self.max_wait)  # let concurrent requests arrive
            size = len(batch[0][0])  # a single request over max_batch goes alone (the Predictor batches inside it)
            while not self.queue.empty():
                item = self.queue.get_nowait()
                if size + len(item[0]) > self.max_batch:
                    self.held = item
                    break
                batch.append(item)
                size += len(item[0])
            texts = [text for request_texts, _ in batch for text in request_texts]
            self.calls, self.texts = self.calls + 1, self.texts + len(texts)
            started = time.perf_counter()
            try:
                if self.worker is None:
                    results = self.predict(texts)
                else:
                    results = await loop.run_in_executor(self.worker, self.predict, texts)
            except Exception as err:  # logged once; every request of the batch learns of it; the loop carries on
                logger.exception("model call on %d texts failed", len(texts))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            if self.on_call is not None:
                self.on_call(len(texts), time.perf_counter() - started)
            start = 0
            for request_texts, future in batch:
                if not future.done():  # a client that went away leaves a cancelled future
                    future.set_result(results[start : start + len(request_texts)])
                start += len(request_texts)
