"""serve.py's metrics, counted in plain numbers: what a scrape shows is what the Prometheus client library's own
Counter and Histogram show for the same events."""
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ernie_distill.serving.metrics import BATCH_BUCKETS, LATENCY_BUCKETS, ServingMetrics


def samples(exposition):
    """Every sample's value; a `_created` sample (a time stamp) only as being there."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value if not s.name.endswith("_created") else "a time"
            for family in text_string_to_metric_families(exposition.decode()) for s in family.samples}


def test_a_scrape_shows_what_the_librarys_own_metrics_would(monkeypatch):
    from ernie_distill.serving import metrics as module

    registry = CollectorRegistry()
    requests = Counter("ernie_distill_requests", "", ["path", "status"], registry=registry)
    latency = Histogram("ernie_distill_request_seconds", "", ["path"], buckets=LATENCY_BUCKETS, registry=registry)
    texts = Counter("ernie_distill_texts_predicted", "", registry=registry)
    batch = Histogram("ernie_distill_batch_texts", "", buckets=BATCH_BUCKETS, registry=registry)
    model_seconds = Histogram("ernie_distill_model_call_seconds", "", buckets=LATENCY_BUCKETS, registry=registry)
    disconnects = Counter("ernie_distill_disconnected_clients", "", ["reason"], registry=registry)
    Gauge("ernie_distill_queued_requests", "", registry=registry).set(3)

    ours, now = ServingMetrics(), [0.0]  # (started = -seconds: the time taken comes out exact)
    ours.queued = lambda: 3
    monkeypatch.setattr(module.time, "perf_counter", lambda: now[0])
    # bounds themselves, values between them, below the first and over the last
    for i, seconds in enumerate([0.0005, 0.0007, 0.001, 0.3, 10, 11, 0.0]):
        path = ["/predict", "/health", "/nowhere"][i % 3]
        ours.request(path, 200, -seconds)
        requests.labels(path if path != "/nowhere" else "other", "200").inc()
        latency.labels(path if path != "/nowhere" else "other").observe(seconds)
    for status in (400, 408, 408):
        ours.refused(status)
        requests.labels("-", str(status)).inc()
    for n, seconds in [(1, 0.002), (64, 0.01), (65, 0.0), (600, 3.0)]:
        ours.model_call(n, seconds)
        texts.inc(n)
        batch.observe(n)
        model_seconds.observe(seconds)
    ours.disconnected("unread_answers")
    disconnects.labels("unread_answers").inc()

    exposition, content_type = ours.exposition()
    assert content_type.startswith("text/plain; version=")
    assert samples(exposition) == samples(generate_latest(registry))
