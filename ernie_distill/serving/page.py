"""The page serve.py answers GET / with (page.html, beside this module): a text box whose lines the model classifies,
each text's label and every class's probability as bars, the API's error messages shown as they come.

It loads nothing from elsewhere (it works offline and behind a firewall) and is sent with a strict
Content-Security-Policy: its one inline script and one inline style run by their SHA-256 hashes, computed here from the
file, and nothing else does; it may fetch from its own server only.
"""
import base64
import hashlib
import re
from importlib import resources


def _hash(source):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode()


def content_security_policy(html):
    """The policy for `html`: its inline <script> and <style> elements by hash, requests to this server only, an
    inline icon (data:, so the browser asks no /favicon.ico), and nothing else."""
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    return (f"default-src 'none'; script-src {' '.join(map(_hash, scripts))}; "
            f"style-src {' '.join(map(_hash, styles))}; connect-src 'self'; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


def load_page():
    """(body, headers) of the answer to GET /."""
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    return html.encode("utf-8"), [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-security-policy", content_security_policy(html).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cache-control", b"no-cache"),
    ]
