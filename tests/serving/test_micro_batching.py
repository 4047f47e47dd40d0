"""MicroBatcher: concurrent requests share model calls of at most max_batch texts, each gets its own answers."""
import asyncio
import threading

import pytest

from ernie_distill.serving.micro_batching import MicroBatcher


@pytest.mark.parametrize("inline", [False, True])
def test_requests_are_gathered_up_to_the_limit_and_answered_in_order(inline):
    calls, threads = [], set()

    def predict(texts):
        calls.append(len(texts))
        threads.add(threading.current_thread())
        return [text.upper() for text in texts]

    async def main():
        batcher = MicroBatcher(predict, max_batch=16, max_wait_ms=20, inline=inline)
        requests = [[f"r{i}t{j}" for j in range(n)] for i, n in enumerate([10, 5, 10, 40, 1])]
        answers = await asyncio.gather(*(batcher.submit(texts) for texts in requests))
        return requests, answers, batcher

    requests, answers, batcher = asyncio.run(main())
    assert answers == [[t.upper() for t in texts] for texts in requests]
    assert calls == [15, 10, 40, 1] and batcher.calls == 4 and batcher.texts == 66  # 40 texts: alone, never split
    assert (threads == {threading.main_thread()}) == inline  # inline: on the event loop's thread


def test_a_failing_model_call_reaches_every_request_of_its_batch_and_the_next_batch_still_runs():
    def predict(texts):
        if "bad" in texts:
            raise RuntimeError("model failed")
        return texts

    async def main():
        batcher = MicroBatcher(predict, max_batch=8, max_wait_ms=10)
        first = await asyncio.gather(batcher.submit(["bad"]), batcher.submit(["ok"]), return_exceptions=True)
        return first, await batcher.submit(["fine"])

    first, later = asyncio.run(main())
    assert all(isinstance(result, RuntimeError) for result in first) and later == ["fine"]
