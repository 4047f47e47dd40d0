"""Fault probe for serve.py: what abusive clients cost a running server, and the clients behaving well meanwhile.

    python serve.py --model_dir tmp/export/student --port 8189 &
    python scripts/fault_probe.py --port 8189 --pid $! pipelining     # clients that pipeline and never read answers
    python scripts/fault_probe.py --port 8189 --pid $! big_array      # a ~5.8 MB JSON array of one-letter texts
    python scripts/fault_probe.py --port 8189 --pid $! stalled_bodies # clients stalling one byte before a 6 MB end
    python scripts/fault_probe.py --port 8189 --pid $! idle           # 2,000 connections that never send a byte
    python scripts/fault_probe.py --port 8189 --pid $! slow_headers   # 500 clients sending headers a byte a second
    python scripts/fault_probe.py --port 8189 --pid $! slow_bodies    # 500 clients sending their bodies a byte a second
    python scripts/fault_probe.py --port 8189 --pid $! load           # 20,000 one-text requests from 32 clients
    python scripts/fault_probe.py --port 8189 --pid $! sigterm        # the same load, SIGTERM to the server after 2 s
    python scripts/fault_probe.py --port 8189 --pid $! sigterm_connections  # a new connection a request, SIGTERM at 2 s
    python scripts/fault_probe.py --port 8189 --pid $! sigterm_queued # 48 connections each sending 256 texts, SIGTERM
    python scripts/fault_probe.py --port 8189 --pid $! http_edges     # h2c upgrade offer, duplicate Host, gzip, ...
    python scripts/fault_probe.py --port 8189 --pid $! oversized_body # urllib sending 12 MB before it reads
    python scripts/fault_probe.py --port 8189 --pid $! fairness       # one-text requests beside 8 clients of 256 texts

Each prints the server's RSS (from /proc/PID/status) before, at its peak and after, and the latency of a
well-behaved client's one-text requests sent meanwhile on new connections (sigterm*: what every request got, and when
the server exited: start the server again after it). Loopback only; Linux only (RSS).

These start the commands themselves (no server to give):

    python scripts/fault_probe.py volume --best_model tmp/student-hard/best_model  # export into a mount point (root)
    python scripts/fault_probe.py pipes --model_dir tmp/export/student      # --input_file -, /dev/stdin, FIFO, <(...)
    python scripts/fault_probe.py closed_stdout --model_dir tmp/export/student    # predict.py ... | head -1
    python scripts/fault_probe.py signals_at_start --model_dir tmp/export/student # SIGTERM, Ctrl-C while serve.py loads
"""
import asyncio
import collections
import json
import os
import re
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from ernie_distill.cli import ArgumentParser, bounded, positive_float, positive_int, run_cli
from ernie_distill.errors import InputError

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


def stalled_bodies(port, pid, clients, megabytes, stall_megabytes, wait):
    """`clients` connections each sending a `megabytes` body but its last byte (or only its first `stall_megabytes`),
    then waiting `wait` seconds (the server's --request_timeout should answer 408 within it); the server's RSS during
    and after, and a well-behaved client's requests meanwhile."""
    before = rss_mb(pid)
    length = int(megabytes * 1e6)
    body = b'{"texts": ["' + b"a" * (length - 15) + b'"]}'
    request = post(body)
    sent = request[: len(request) - len(body) + int(stall_megabytes * 1e6)] if stall_megabytes else request[:-1]
    watch, connections = Watch(port, pid), []
    for _ in range(clients):
        connection = socket.create_connection((HOST, port))
        try:
            connection.sendall(sent)
        except OSError:  # (reset)
            pass
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
    watch.stop()
    time.sleep(2)
    after = rss_mb(pid)
    print(f"stalled_bodies: {clients} x {len(sent) / 1e6:.2f} of a {megabytes:g} MB body: server RSS before "
          f"{before:.0f} MB, all sent {during:.0f} MB, 2 s after the answers {after:.0f} MB; answers "
          + ", ".join(f"{status} {n}" for status, n in sorted(collections.Counter(statuses).items(), key=str)))
    print(f"  {watch.report()}")


def slow_clients(port, pid, clients, part, wait, interval=1.0):
    """`clients` connections that send nothing (part "idle"), or their headers ("headers") or a 1 KB body ("body") a
    byte every `interval` seconds: how long each stays open and what it was answered, within `wait` seconds."""
    request = post(b'{"texts": ["' + b"a" * 1000 + b'"]}')
    head_end = request.index(b"\r\n\r\n") + 4
    watch, began = Watch(port, pid), time.monotonic()
    connections = {socket.create_connection((HOST, port)): head_end if part == "body" else 0 for _ in range(clients)}
    ends = collections.Counter()
    for connection, sent in connections.items():
        connection.setblocking(False)
        if sent:
            connection.sendall(request[:sent])
    while connections and time.monotonic() - began < wait:
        for connection, sent in list(connections.items()):
            try:
                answer = connection.recv(4096)
                ends[f"answered {answer.split(b' ')[1].decode()}" if answer else "closed without an answer"] += 1
            except BlockingIOError:  # nothing from the server yet: one more byte
                try:
                    if part != "idle" and sent < len(request) - 1:
                        connection.send(request[sent : sent + 1])
                        connections[connection] = sent + 1
                    continue
                except OSError:
                    ends["reset"] += 1
            except OSError:
                ends["reset"] += 1
            ends[f"at {time.monotonic() - began:.0f} s"] += 1
            connection.close()
            del connections[connection]
        time.sleep(interval)
    for connection in connections:
        connection.close()
    watch.stop()
    times = sorted((k for k in ends if k.startswith("at ")), key=lambda k: int(k.split()[1]))
    how = ", ".join(f"{n} {k}" for k, n in ends.items() if not k.startswith("at "))
    print(f"{part}: {clients} clients; {how or 'none ended'}, {len(connections)} still open at {wait:g} s"
          + (f"; ended {times[0][3:]}-{times[-1][3:]} after connecting" if times else ""))
    print(f"  {watch.report()}")


def load(port, pid, requests, clients, sigterm_after=None, new_connections=False):
    """`requests` one-text requests from `clients` keep-alive connections (with new_connections, a connection a
    request), one request at a time each: every answer's status, the throughput and the server's RSS. With
    sigterm_after, SIGTERM goes to the server that many seconds in: each client then counts what its requests got
    (200, another status, or nothing before the connection ended), and whether a new connection is still accepted."""
    outcomes, before = collections.Counter(), rss_mb(pid)
    length = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
    pending, last_answer = iter(range(requests)), [time.monotonic()]

    async def client():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            outcomes["connection refused"] += 1
            return
        for _ in pending:
            writer.write(post(ONE_TEXT))
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(length.search(head).group(1)))
            except ConnectionResetError:
                outcomes["no answer (connection reset)"] += 1
                break
            except (OSError, asyncio.IncompleteReadError):
                outcomes["no answer (connection ended)"] += 1
                break
            outcomes[f"answered {int(head.split()[1])}"] += 1
            last_answer[0] = time.monotonic()
            if b"connection: close" in head.lower():
                break
            if new_connections:
                writer.close()
                try:
                    reader, writer = await asyncio.open_connection(HOST, port)
                except OSError:
                    outcomes["connection refused"] += 1
                    return
        writer.close()

    async def run():
        began, tasks = time.monotonic(), [asyncio.ensure_future(client()) for _ in range(clients)]
        if sigterm_after is not None:
            await asyncio.sleep(sigterm_after)
            os.kill(pid, signal.SIGTERM)
            stopped = time.monotonic()
            await asyncio.sleep(0.05)
            try:
                _, writer = await asyncio.open_connection(HOST, port)
                writer.close()
                outcomes["new connection after SIGTERM: accepted"] += 1
            except OSError:
                outcomes["new connection after SIGTERM: refused"] += 1
            await asyncio.wait_for(asyncio.gather(*tasks), 120)  # (each client stops at its Connection: close)
            while time.monotonic() - stopped < 60:
                try:
                    with open(f"/proc/{pid}/stat") as stat:
                        if stat.read().split(")")[-1].split()[0] == "Z":  # exited, not yet reaped by its parent
                            break
                except FileNotFoundError:  # exited and reaped
                    break
                await asyncio.sleep(0.01)
            return last_answer[0] - began, time.monotonic() - stopped
        await asyncio.gather(*tasks)
        return last_answer[0] - began, None

    wall, exited = asyncio.run(run())
    answered = sum(n for k, n in outcomes.items() if k.startswith("answered"))
    print(f"load: {clients} clients, {answered:,} answers in {wall:.1f} s ({answered / wall:,.0f} a second): "
          + ", ".join(f"{k} {n:,}" for k, n in sorted(outcomes.items())))
    if exited is not None:
        print(f"  SIGTERM at {sigterm_after:g} s; the server exited {exited:.2f} s after it")
    else:
        print(f"  server RSS before {before:.0f} MB, after {rss_mb(pid):.0f} MB")


def sigterm_queued(port, pid, clients, texts, after):
    """`clients` connections opened at once, each sending a request of `texts` texts; SIGTERM `after` seconds later:
    what each got (the connections the server had not accepted yet wait in the kernel's accept queue)."""
    body = json.dumps({"texts": [f"{i}房间很干净，服务也好" for i in range(texts)]}, ensure_ascii=False).encode()
    connections = []
    for _ in range(clients):
        connection = socket.create_connection((HOST, port), timeout=60)
        connection.sendall(post(body))
        connections.append(connection)
    time.sleep(after)
    os.kill(pid, signal.SIGTERM)
    outcomes = collections.Counter()
    for connection in connections:
        received = b""
        try:
            while chunk := connection.recv(1 << 20):
                received += chunk
            outcomes[f"answered {received.split()[1].decode()}" if received else "closed without an answer"] += 1
        except ConnectionResetError:
            outcomes["reset, no answer"] += 1
        connection.close()
    print(f"sigterm_queued: {clients} connections each sending {texts} texts, SIGTERM {after * 1000:.0f} ms later: "
          + ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items())))


def raw_answer(port, data, half_close=False):
    """The status line (or what happened instead) of the first answer to `data` sent on a new connection."""
    with socket.create_connection((HOST, port), timeout=15) as connection:
        connection.sendall(data)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while b"\r\n" not in received and (chunk := connection.recv(65536)):
                received += chunk
        except ConnectionResetError:
            return "reset"
    return received.split(b"\r\n")[0].decode() if received else "closed without an answer"


def http_edges(port, pid):
    """Requests at the edges of HTTP/1.1 and what each was answered."""
    import gzip

    head = b"POST /predict HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
    h2c = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    bomb = gzip.compress(b" " * 10**8)
    cases = [
        ("h2c upgrade offer with a body (curl --http2), then a second request",
         post(ONE_TEXT, h2c) + post(ONE_TEXT), False),
        ("two Host headers", post(ONE_TEXT, b"Host: other\r\n"), False),
        ("Content-Encoding: gzip", post(gzip.compress(ONE_TEXT), b"Content-Encoding: gzip\r\n"), False),
        (f"Content-Encoding: gzip, {len(bomb) // 1000} KB decoding to 100 MB",
         post(bomb, b"Content-Encoding: gzip\r\n"), False),
        ("Content-Encoding: br", post(ONE_TEXT, b"Content-Encoding: br\r\n"), False),
        ("half-closed 5 bytes before the end of its body", head + b"Content-Length: 100\r\n\r\n" + b" " * 95, True),
    ]
    for name, data, half_close in cases:
        if name.startswith("h2c"):
            with socket.create_connection((HOST, port), timeout=15) as connection:
                connection.sendall(data)
                received, began = b"", time.monotonic()
                while received.count(b"HTTP/1.1 ") < 2 and time.monotonic() - began < 5:
                    received += connection.recv(65536)
            got = ", ".join(status.decode() for status in re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", received))
        else:
            got = raw_answer(port, data, half_close)
        print(f"http_edges: {name}: {got}")


def oversized_body(port, pid, megabytes):
    """Python's urllib POSTing a `megabytes` body, which it sends whole before reading the answer."""
    import urllib.error
    import urllib.request

    body = b'{"texts": ["' + b"a" * int(megabytes * 1e6) + b'"]}'
    request = urllib.request.Request(f"http://{HOST}:{port}/predict", data=body,
                                     headers={"Content-Type": "application/json"})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            got = f"answered {answer.status}"
    except urllib.error.HTTPError as err:
        got = f"answered {err.code}: {json.loads(err.read())['error']}"
    except OSError as err:
        got = f"no answer: {err!r}"
    print(f"oversized_body: urllib, a {len(body) / 1e6:.1f} MB body: {got} ({time.perf_counter() - began:.2f} s)")


def fairness(port, pid, clients, texts, duration):
    """`clients` keep-alive clients sending `texts`-text requests back to back for `duration` seconds, and one more
    sending one-text requests: the latter's latency, and the texts a second the large ones got through."""
    large = json.dumps({"texts": [f"{i}房间很干净，服务也好，下次还来" for i in range(texts)]},
                       ensure_ascii=False).encode()
    length = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
    small_ms, large_done = [], [0]

    async def client(body, latencies, until):
        reader, writer = await asyncio.open_connection(HOST, port)
        while time.monotonic() < until:
            began = time.perf_counter()
            writer.write(post(body))
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(length.search(head).group(1)))
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"answered {head.split()[1].decode()}")
            if latencies is None:
                large_done[0] += 1
            else:
                latencies.append(1000 * (time.perf_counter() - began))
        writer.close()

    async def run():
        until = time.monotonic() + duration
        await asyncio.gather(*(client(large, None, until) for _ in range(clients)), client(ONE_TEXT, small_ms, until))

    asyncio.run(run())
    ms = sorted(small_ms)
    print(f"fairness: {clients} clients sending {texts}-text requests for {duration:g} s: "
          f"{large_done[0] * texts / duration:,.0f} texts a second; beside them one-text requests: {len(ms)}, "
          f"latency median {statistics.median(ms):.1f} ms, p99 {ms[int(0.99 * (len(ms) - 1))]:.1f} ms, "
          f"max {ms[-1]:.1f} ms")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(args, **kwargs):
    """Run a shell command line in the checkout: (exit status, seconds, stderr's last line, whether it holds a
    traceback)."""
    began = time.perf_counter()
    done = subprocess.run(["bash", "-c", args], cwd=ROOT, capture_output=True, text=True, timeout=600, **kwargs)
    lines = done.stderr.strip().splitlines() or [""]
    return done.returncode, time.perf_counter() - began, lines[-1], "Traceback" in done.stderr


def volume(best_model):
    """Exports into a tmpfs mount point (a container volume): the first, a replacement, then one that does not fit."""
    mount = tempfile.mkdtemp(prefix="volume-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", mount], capture_output=True,
                             text=True)
    if mounted.returncode:
        os.rmdir(mount)
        raise InputError(f"volume mounts a tmpfs, and mount failed ({mounted.stderr.strip()}): run it as root with "
                         "CAP_SYS_ADMIN (a container run with --privileged)")
    try:
        export = f"{sys.executable} export_model.py --model_dir {best_model} --output_path {mount}"
        predict = f"{sys.executable} predict.py --model_dir {mount} --text 很好"
        for name in ("first export", "replacing it"):
            code, seconds, last, traceback = command(export)
            print(f"{name}: exit {code} in {seconds:.1f} s, traceback: {traceback}; predict.py: exit "
                  f"{command(predict)[0]}; {sorted(os.listdir(mount))}")
        used = sum(os.path.getsize(os.path.join(mount, name)) for name in os.listdir(mount))
        subprocess.run(["mount", "-o", f"remount,size={used + 256 * 1024}", mount], check=True)
        code, seconds, last, traceback = command(export)
        print(f"a volume without room for a second copy: exit {code}, {last!r}; predict.py on the old export: exit "
              f"{command(predict)[0]}; files left: {sorted(os.listdir(mount))}")
    finally:
        subprocess.run(["umount", mount], check=True)
        os.rmdir(mount)


def pipes(model_dir, texts=("很好", "太差了")):
    """predict.py --input_file from standard input (- and /dev/stdin), a FIFO and a process substitution."""
    lines = "".join(text + "\n" for text in texts)
    fifo = os.path.join(tempfile.mkdtemp(prefix="fifo-"), "texts")
    os.mkfifo(fifo)
    predict = f"{sys.executable} predict.py --model_dir {model_dir} --input_file"
    for form, line in [("-", f"printf '{lines}' | {predict} -"),
                       ("/dev/stdin", f"printf '{lines}' | {predict} /dev/stdin"),
                       ("a FIFO", f"(printf '{lines}' | timeout 30 tee {fifo}) >/dev/null 2>&1 & {predict} {fifo}"),
                       ("<(...)", f"{predict} <(printf '{lines}')")]:
        done = subprocess.run(["bash", "-c", line], cwd=ROOT, capture_output=True, text=True, timeout=300)
        print(f"--input_file {form}: exit {done.returncode}, {len(done.stdout.splitlines())} of {len(texts)} texts "
              "predicted")
    os.remove(fifo)
    os.rmdir(os.path.dirname(fifo))


def closed_stdout(model_dir, lines=50000):
    """predict.py over a file of `lines` texts into `head -1`, which closes the pipe after the first line."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as texts:
        texts.write("房间很干净，服务也好\n" * lines)
        texts.flush()
        code, seconds, last, traceback = command(f"set -o pipefail; {sys.executable} predict.py --model_dir "
                                                 f"{model_dir} --input_file {texts.name} | head -1 >/dev/null")
    print(f"predict.py ({lines:,} lines) | head -1: exit {code} in {seconds:.1f} s, traceback: {traceback}")


def signals_at_start(model_dir):
    """SIGTERM to serve.py while it loads the model (once it holds its port), and Ctrl-C while it imports."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    for signum, when in ((signal.SIGTERM, "loads the model"), (signal.SIGINT, "imports its modules")):
        server = subprocess.Popen([sys.executable, "serve.py", "--model_dir", model_dir, "--port", str(port)], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        while signum == signal.SIGTERM and socket.socket().connect_ex((HOST, port)):
            time.sleep(0.01)  # (the port listens from the bind on, before the model loads)
        time.sleep(0.3 if signum == signal.SIGINT else 0)
        began = time.perf_counter()
        server.send_signal(signum)
        err = server.communicate(timeout=120)[1]
        print(f"{signal.Signals(signum).name} while serve.py {when}: exit {server.returncode} "
              f"{time.perf_counter() - began:.2f} s after the signal, {len(err.splitlines())} line(s) on stderr, "
              f"the last {(err.strip().splitlines() or [''])[-1]!r}")


COMMAND_PROBES = {"volume": volume, "pipes": pipes, "closed_stdout": closed_stdout,
                  "signals_at_start": signals_at_start}


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--port", type=bounded(int, 1, 65535), help="the server's (not for the probes below)")
    parser.add_argument("--pid", type=int, help="the server's process id, for its RSS")
    parser.add_argument("probe", choices=["pipelining", "big_array", "stalled_bodies", "idle", "slow_headers",
                                          "slow_bodies", "load", "sigterm", "sigterm_connections", "sigterm_queued",
                                          "http_edges", "oversized_body", "fairness", *COMMAND_PROBES])
    parser.add_argument("--model_dir", help="pipes, closed_stdout, signals_at_start: an export")
    parser.add_argument("--best_model", help="volume: a best_model directory to export")
    parser.add_argument("--clients", type=positive_int, help="pipelining: 200, stalled_bodies: 60, idle: 2000, "
                        "slow_*: 500, load and sigterm*: 32, sigterm_queued: 48, fairness: 8")
    parser.add_argument("--requests", type=positive_int, help="load: 20000 in all; sigterm: as many as the server "
                        "answers")
    parser.add_argument("--duration", type=positive_float, help="pipelining: seconds at most (45); fairness: 10")
    parser.add_argument("--megabytes", type=positive_float, help="big_array: 5.8, stalled_bodies: 6, "
                        "oversized_body: 12")
    parser.add_argument("--stall_megabytes", type=positive_float, help="stalled_bodies: megabytes of the body sent "
                        "before stalling (all but its last byte)")
    parser.add_argument("--texts", type=positive_int, default=256, help="sigterm_queued, fairness: texts a request")
    parser.add_argument("--item", default="[]", help="big_array: each item of the array (JSON); [] costs Python's "
                        "parser the most time a byte")
    parser.add_argument("--repeats", type=positive_int, default=5, help="big_array: bodies sent one at a time")
    parser.add_argument("--wait", type=positive_float, default=30.0, help="stalled_bodies, idle, slow_*: seconds to "
                        "wait")
    args = parser.parse_args()
    if args.probe in COMMAND_PROBES:
        source = args.best_model if args.probe == "volume" else args.model_dir
        if not source:
            parser.error(f"{args.probe} needs {'--best_model' if args.probe == 'volume' else '--model_dir'}")
        if args.probe == "volume" and os.geteuid() != 0:
            parser.error("volume mounts a tmpfs: run it as root (e.g. in a container)")
        return COMMAND_PROBES[args.probe](source)
    if args.port is None or args.pid is None:
        parser.error(f"{args.probe} probes a running server: give its --port and --pid")
    if not os.path.exists(f"/proc/{args.pid}/status"):
        parser.error(f"--pid {args.pid}: no such process (give the server's)")
    try:
        socket.create_connection((HOST, args.port), timeout=5).close()
    except OSError as err:
        parser.error(f"--port {args.port}: nothing answers on {HOST} ({err.strerror or err}); start serve.py first")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # (idle opens 2,000 connections: the usual limit is 1,024)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.probe == "pipelining":
        pipelining(args.port, args.pid, args.clients or 200, args.duration or 45.0)
    elif args.probe == "big_array":
        big_array(args.port, args.pid, args.megabytes or 5.8, args.item, args.repeats)
    elif args.probe == "stalled_bodies":
        stalled_bodies(args.port, args.pid, args.clients or 60, args.megabytes or 6, args.stall_megabytes, args.wait)
    elif args.probe in ("load", "sigterm", "sigterm_connections"):
        sigterm = args.probe != "load"
        load(args.port, args.pid, args.requests or (10**7 if sigterm else 20000), args.clients or 32,
             2.0 if sigterm else None, new_connections=args.probe == "sigterm_connections")
    elif args.probe == "sigterm_queued":
        sigterm_queued(args.port, args.pid, args.clients or 48, args.texts, 0.05)
    elif args.probe == "http_edges":
        http_edges(args.port, args.pid)
    elif args.probe == "oversized_body":
        oversized_body(args.port, args.pid, args.megabytes or 12)
    elif args.probe == "fairness":
        fairness(args.port, args.pid, args.clients or 8, args.texts, args.duration or 10.0)
    else:
        slow_clients(args.port, args.pid, args.clients or (2000 if args.probe == "idle" else 500),
                     {"idle": "idle", "slow_headers": "headers", "slow_bodies": "body"}[args.probe], args.wait)


if __name__ == "__main__":
    sys.exit(run_cli(main))
