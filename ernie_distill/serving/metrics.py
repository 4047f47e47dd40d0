"""GET /metrics in Prometheus' text format, with the Prometheus client library: what operators scrape from a model
service (as from TGI, Triton or TorchServe).

The figures are a worker process's own: with `--workers N` each scrape reaches one of the N workers, so run one worker
a replica (container) where exact figures matter, and let Prometheus sum the replicas.
"""
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PATHS = ("/predict", "/health", "/ready", "/metrics")  # other paths count as "other": a client cannot add series
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServingMetrics:
    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("ernie_distill_requests", "HTTP requests answered, by path and status",
                                ["path", "status"], registry=registry)
        self.latency = Histogram("ernie_distill_request_seconds", "time to answer a request, by path", ["path"],
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.texts = Counter("ernie_distill_texts_predicted", "texts predicted", registry=registry)
        self.batch = Histogram("ernie_distill_batch_texts", "texts in one model call (micro-batching)",
                               buckets=BATCH_BUCKETS, registry=registry)
        self.model_seconds = Histogram("ernie_distill_model_call_seconds", "time of one model call",
                                       buckets=LATENCY_BUCKETS, registry=registry)
        self.disconnects = Counter("ernie_distill_disconnected_clients", "clients disconnected without an answer, by "
                                   "reason (unread_answers: not reading them within --request_timeout)", ["reason"],
                                   registry=registry)
        self.queue = Gauge("ernie_distill_queued_requests", "requests waiting for a model call (set_function: the "
                           "micro-batcher's count)", registry=registry)

    def request(self, path, status, started):
        path = path if path in PATHS else "other"
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(time.perf_counter() - started)

    def refused(self, status):
        """An answer the HTTP server made itself (400, 408, 413, 431, a failing application's 500): path "-"."""
        self.requests.labels("-", str(status)).inc()

    def disconnected(self, reason):
        self.disconnects.labels(reason).inc()

    def model_call(self, texts, seconds):
        self.texts.inc(texts)
        self.batch.observe(texts)
        self.model_seconds.observe(seconds)

    def exposition(self):
        """(body, content type) of GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
