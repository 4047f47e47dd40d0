"""Fault probe for serve.py: what abusive clients cost a running server, and the clients behaving well meanwhile.

    python serve.py --model_dir tmp/export/student --port 8189 &
    python scripts/fault_probe.py --port 8189 --pid $! pipelining     # clients that pipeline and never read answers
    python scripts/fault_probe.py --port 8189 --pid $! big_array      # a ~5.8 MB JSON array of one-letter texts
    python scripts/fault_probe.py --port 8189 --pid $! stalled_bodies # clients stalling one byte before a 6 MB end

Each prints the server's RSS (from /proc/PID/status) before, at its peak and after, and the latency of a
well-behaved client's one-text requests sent meanwhile on new connections. Loopback only; Linux only (RSS).
"""
import argparse
import json
import selectors
import socket
import statistics
import threading
import time

HOST = "127.0.0.1"
ONE_TEXT = json.dumps({"texts": ["房间很干净，服务也好"]}, ensure_ascii=False).encode()


def post(body, headers=b""):
    return (b"POST /predict HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (len(body), headers)) + body


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def answer_of(port, data, timeout=60):
    """Send `data` on a new connection and read one answer: (status, seconds)."""
    began = time.perf_counter()
    with socket.create_connection((HOST, port), timeout=timeout) as connection:
        connection.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                return None, time.perf_counter() - began
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.lower().split(b"\r\n")
                          if line.startswith(b"content-length")))
        while len(body) < length and (chunk := connection.recv(65536)):
            body += chunk
    return int(head.split()[1]), time.perf_counter() - began


class Watch:
    """A well-behaved client (one request every `every` seconds) and the server's RSS, on a thread, until stop()."""

    def __init__(self, port, pid, every=0.1):
        self.latencies, self.rss, self.stopped = [], [rss_mb(pid)], threading.Event()

        def run():
            while not self.stopped.wait(every):
                status, seconds = answer_of(port, post(ONE_TEXT, b"Connection: close\r\n"))
                self.latencies.append(seconds if status == 200 else float("inf"))
                self.rss.append(rss_mb(pid))

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped.set()
        self.thread.join()

    def report(self):
        ms = sorted(1000 * seconds for seconds in self.latencies)
        return (f"well-behaved requests: {len(ms)}, latency median {statistics.median(ms):.1f} ms, max "
                f"{ms[-1]:.1f} ms; server RSS before {self.rss[0]:.0f} MB, peak {max(self.rss):.0f} MB")


def pipelining(port, pid, clients, duration):
    """`clients` connections each sending pipelined one-text requests as fast as the server takes them, never reading
    an answer; how long each stays open (until a send fails), within `duration` seconds."""
    watch, selector = Watch(port, pid), selectors.DefaultSelector()
    burst, began = post(ONE_TEXT) * 400, time.monotonic()
    for _ in range(clients):
        connection = socket.create_connection((HOST, port))
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_WRITE, [began, 0])
    lifetimes = []
    while selector.get_map() and time.monotonic() - began < duration:
        for key, _ in selector.select(timeout=0.5):
            try:
                key.data[1] += key.fileobj.send(burst)
            except BlockingIOError:
                pass
            except OSError:  # reset or closed by the server
                lifetimes.append(time.monotonic() - key.data[0])
                selector.unregister(key.fileobj)
                key.fileobj.close()
    still_open = list(selector.get_map().values())
    sent = sorted(key.data[1] for key in still_open)
    for key in still_open:
        key.fileobj.close()
    watch.stop()
    after = rss_mb(pid)
    open_ones = clients - len(lifetimes)
    closed = (f"{len(lifetimes)} disconnected after {min(lifetimes):.1f}-{max(lifetimes):.1f} s"
              if lifetimes else "none disconnected")
    print(f"pipelining: {clients} clients never reading; {closed}, {open_ones} still open at {duration:g} s"
          + (f" (each had sent {sent[0] // 1024}-{sent[-1] // 1024} KiB)" if sent else ""))
    print(f"  {watch.report()}, {after:.0f} MB once the probe closed its connections")


def big_array(port, pid, megabytes, item, repeats):
    """{"texts": [item, item, ...]}, `megabytes` long, `repeats` times: how long it takes to answer, and how long the
    well-behaved client's requests wait meanwhile."""
    items = int(megabytes * 1e6) // (len(item) + 1)
    body = b'{"texts": [' + b",".join([item.encode()] * items) + b"]}"
    watch = Watch(port, pid, every=0.02)
    time.sleep(0.5)
    answers = [answer_of(port, post(body, b"Connection: close\r\n")) for _ in range(repeats)]
    time.sleep(0.5)
    watch.stop()
    statuses, median = sorted({status for status, _ in answers}), statistics.median(s for _, s in answers)
    print(f"big_array: {len(body) / 1e6:.1f} MB, {items} items {item}: answered {statuses} in {median * 1000:.0f} ms "
          f"(median of {repeats}, sending included)")
    print(f"  {watch.report()}")


def stalled_bodies(port, pid, clients, megabytes, wait):
    """`clients` connections each sending a `megabytes` body but its last byte, then waiting `wait` seconds (the
    server's --request_timeout should answer 408 within it); the server's RSS during and after."""
    before = rss_mb(pid)
    length = int(megabytes * 1e6)
    body = b'{"texts": ["' + b"a" * (length - 15) + b'"]}'
    connections = []
    for _ in range(clients):
        connection = socket.create_connection((HOST, port))
        connection.sendall(post(body)[:-1])
        connections.append(connection)
    time.sleep(0.5)
    during = rss_mb(pid)
    statuses = []
    deadline = time.monotonic() + wait
    for connection in connections:
        connection.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            statuses.append(int(connection.recv(65536).split()[1]))
        except (OSError, IndexError):
            statuses.append(None)
        connection.close()
    time.sleep(2)
    after = rss_mb(pid)
    print(f"stalled_bodies: {clients} x {megabytes:g} MB: server RSS before {before:.0f} MB, all sent {during:.0f} "
          f"MB, 2 s after the answers {after:.0f} MB; answers {sorted(set(statuses), key=str)}")
    watch = Watch(port, pid)
    time.sleep(0.3)
    watch.stop()
    print(f"  {watch.report()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server's process id, for its RSS")
    parser.add_argument("probe", choices=["pipelining", "big_array", "stalled_bodies"])
    parser.add_argument("--clients", type=int, help="pipelining: 200, stalled_bodies: 60")
    parser.add_argument("--duration", type=float, default=45.0, help="pipelining: seconds at most")
    parser.add_argument("--megabytes", type=float, help="big_array: 5.8, stalled_bodies: 6")
    parser.add_argument("--item", default="[]", help="big_array: each item of the array (JSON); [] costs Python's "
                        "parser the most time a byte")
    parser.add_argument("--repeats", type=int, default=5, help="big_array: bodies sent one after the other")
    parser.add_argument("--wait", type=float, default=30.0, help="stalled_bodies: seconds to wait for the answers")
    args = parser.parse_args()
    if args.probe == "pipelining":
        pipelining(args.port, args.pid, args.clients or 200, args.duration)
    elif args.probe == "big_array":
        big_array(args.port, args.pid, args.megabytes or 5.8, args.item, args.repeats)
    else:
        stalled_bodies(args.port, args.pid, args.clients or 60, args.megabytes or 6, args.wait)


if __name__ == "__main__":
    main()
