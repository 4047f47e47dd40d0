"""serve.py's HTTP/1.1 server and the micro-batcher that gathers concurrent requests into one model call."""
