"""MicroBatcher: concurrent requests share model calls of at most max_batch texts, each gets its own answers."""
import asyncio
import threading

import pytest

from ernie_distill.serving.micro_batching import MicroBatcher


def recording_model(calls):
    """A model that upper-cases its texts and appends each call's texts to `calls`."""
    def predict(texts):
        calls.append(list(texts))
        return [text.upper() for text in texts]
    return predict


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
    assert calls == [16, 16, 16, 16, 2] and batcher.calls == 5 and batcher.texts == 66  # 40 texts: split
    assert (threads == {threading.main_thread()}) == inline  # inline: on the event loop's thread


@pytest.mark.parametrize("inline", [False, True])
def test_large_requests_are_split_and_interleaved_with_small_ones_that_arrive_later(inline):
    """Eight clients' 256-text requests queued, then a one-text request: it goes into the next model call (it would
    otherwise wait for 2,048 texts), and each call is shared fairly."""
    calls = []
    predict = recording_model(calls)

    async def main():
        batcher = MicroBatcher(predict, max_batch=64, inline=inline)
        large = [asyncio.ensure_future(batcher.submit([f"r{i}t{j}" for j in range(256)])) for i in range(8)]
        await asyncio.sleep(0)  # the first call begins
        while not calls:
            await asyncio.sleep(0)
        calls_before = len(calls)
        small = await batcher.submit(["small"])
        return calls_before, small, await asyncio.gather(*large)

    calls_before, small, large = asyncio.run(main())
    assert small == ["SMALL"] and large == [[f"R{i}T{j}" for j in range(256)] for i in range(8)]
    assert "small" in calls[calls_before]  # the next call after it arrived
    assert all(len(call) <= 64 for call in calls) and sum(map(len, calls)) == 8 * 256 + 1
    first = [text.split("t")[0] for text in calls[0]]
    assert sorted(first.count(f"r{i}") for i in range(8)) == [8] * 8  # an equal share each


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


@pytest.mark.parametrize("inline", [False, True])
def test_a_request_of_no_texts_gets_none_and_the_others_are_still_answered(inline):
    """No model call for it (the server refuses an empty list, but a library caller may send one), and no loop that
    takes nothing from it forever."""
    calls = []
    predict = recording_model(calls)

    async def main():
        batcher = MicroBatcher(predict, max_batch=4, inline=inline)
        return await asyncio.wait_for(asyncio.gather(batcher.submit([]), batcher.submit(["a", "b"])), 5)

    assert asyncio.run(main()) == [[], ["A", "B"]] and calls == [["a", "b"]]
