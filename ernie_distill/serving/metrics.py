"""GET /metrics in Prometheus' text format, with the Prometheus client library: what operators scrape from a model
service (as from TGI, Triton or TorchServe).

The figures are a worker process's own: with `--workers N` each scrape reaches one of the N workers, so run one worker
a replica (container) where exact figures matter, and let Prometheus sum the replicas.

They are counted in plain Python numbers, as everything that counts runs on the event loop's thread, and handed to the
library as metric families when scraped: the library's own metric objects look their labels up and take a lock for
each update, six times the CPU (measured side by side: 6.5-8.2 µs a request against 0.8-1.3 µs, of the 65-90 µs a
one-text request costs the server). tests/serving/test_metrics.py checks that a scrape shows what they would.
"""
import bisect
import collections
import itertools
import math
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

PATHS = ("/predict", "/health", "/ready", "/metrics", "/")  # other paths count as "other": a client cannot add series
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Buckets:
    """A histogram's counts: a value is counted in the first bucket whose bound is not below it (Prometheus' `le`)."""

    def __init__(self, bounds):
        self.bounds, self.counts, self.sum = bounds, [0] * (len(bounds) + 1), 0.0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def add_to(self, family, created, labels=None):
        """The buckets, count and sum, and the time they count from, as samples of `family` (labels: name -> value)."""
        labels = labels or {}
        bounds = [floatToGoString(bound) for bound in (*self.bounds, math.inf)]
        family.add_metric(list(labels.values()), list(zip(bounds, itertools.accumulate(self.counts))), self.sum)
        family.add_sample(f"{family.name}_created", labels, created)  # (add_metric takes none for a histogram)


class ServingMetrics:
    def __init__(self):
        self.requests = collections.Counter()  # (path, status) -> answers
        self.latency = collections.defaultdict(lambda: Buckets(LATENCY_BUCKETS))  # path -> time to answer
        self.texts = 0
        self.batch, self.model_seconds = Buckets(BATCH_BUCKETS), Buckets(LATENCY_BUCKETS)
        self.disconnects = collections.Counter()  # reason -> clients
        self.queued = lambda: 0  # requests waiting for a model call (the server's micro-batcher tells)
        self.created = time.time()  # every series counts from here (the `_created` samples)
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def request(self, path, status, started):
        path = path if path in PATHS else "other"
        self.requests[path, status] += 1
        self.latency[path].observe(time.perf_counter() - started)

    def refused(self, status):
        """An answer the HTTP server made itself (400, 408, 413, 415, 431, 503, a failing application's 500): path
        "-"."""
        self.requests["-", status] += 1

    def disconnected(self, reason):
        self.disconnects[reason] += 1

    def model_call(self, texts, seconds):
        self.texts += texts
        self.batch.observe(texts)
        self.model_seconds.observe(seconds)

    def collect(self):
        """The metric families, as the library's registry asks for them when scraped."""
        requests = CounterMetricFamily("ernie_distill_requests", "HTTP requests answered, by path and status",
                                       labels=["path", "status"])
        for (path, status), count in sorted(self.requests.items()):
            requests.add_metric([path, str(status)], count, created=self.created)
        latency = HistogramMetricFamily("ernie_distill_request_seconds", "time to answer a request, by path",
                                        labels=["path"])
        for path, buckets in sorted(self.latency.items()):
            buckets.add_to(latency, self.created, {"path": path})
        batch = HistogramMetricFamily("ernie_distill_batch_texts", "texts in one model call (micro-batching)")
        self.batch.add_to(batch, self.created)
        model_seconds = HistogramMetricFamily("ernie_distill_model_call_seconds", "time of one model call")
        self.model_seconds.add_to(model_seconds, self.created)
        disconnects = CounterMetricFamily("ernie_distill_disconnected_clients", "clients disconnected without an "
                                          "answer, by reason (within --request_timeout, no_request: no request's "
                                          "headers, an idle keep-alive connection included; unread_answers: the "
                                          "answers not read)", labels=["reason"])
        for reason, count in sorted(self.disconnects.items()):
            disconnects.add_metric([reason], count, created=self.created)
        yield from (requests, latency,
                    CounterMetricFamily("ernie_distill_texts_predicted", "texts predicted", value=self.texts,
                                        created=self.created),
                    batch, model_seconds, disconnects,
                    GaugeMetricFamily("ernie_distill_queued_requests", "requests waiting for a model call",
                                      value=self.queued()))

    def exposition(self):
        """(body, content type) of GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
