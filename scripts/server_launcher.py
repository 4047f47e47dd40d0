"""Start serve.py in a child process on a free loopback port and wait until it answers: for tests and the benchmark."""
import contextlib
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(model_dir, *extra_args, timeout=120, env=None):
    """Yield the base URL of a serve.py answering /health; stop it on exit. `env`: the server's environment."""
    import requests

    port = free_port()
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "serve.py"), "--model_dir", model_dir,
                                "--port", str(port), *extra_args],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not bound yet, or still loading its model
                pass
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("serve.py did not start:\n" + process.communicate()[0].decode()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
