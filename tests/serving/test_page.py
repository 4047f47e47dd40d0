"""The page at GET / in a real headless browser: Chromium from the system's packages, driven by Playwright.

Skipped where Playwright or Chromium (`chromium` on the PATH, or CHROMIUM=/its/path) is missing, except in CI (CI=true),
where that fails: CI installs both (.ci/run).
"""
import os
import shutil

import pytest

from conftest import IN_CI
from ernie_distill.deploy.inference import Predictor
from server_launcher import running_server

TEXTS = ["这家酒店的服务非常好，房间干净，下次还会再来。", "书的纸张质量太差了，送货也很慢，不推荐购买。"]


def find_chromium():
    """(the path of the system's Chromium, what is missing to drive it: None when nothing is)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "Playwright (pip install playwright)"
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return path, None if path else "Chromium (apt-get install chromium)"


CHROMIUM, MISSING = find_chromium()
if MISSING and not IN_CI:  # (when the module is collected: before a session's fixtures train a student for nothing)
    pytest.skip(f"{MISSING} is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    if MISSING:
        pytest.fail(f"CI must run the browser test: {MISSING} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(exported_student):
    with running_server(exported_student, "--max_texts", "8") as url:
        yield url


@pytest.fixture
def page(browser, server):
    """A fresh page at GET /, and the errors its console and scripts report."""
    page = browser.new_page()
    page.errors = []
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(server + "/")
    yield page
    page.close()


def test_typed_lines_are_classified_with_every_class_as_a_bar(page, exported_student, tmp_path):
    expected = Predictor(exported_student).predict(TEXTS, with_probabilities=True)
    page.fill("#texts", "\n".join([TEXTS[0], "", TEXTS[1]]))  # an empty line is left out
    page.click("#classify")
    page.wait_for_selector("#results .result:nth-child(2)")
    results = page.locator("#results .result")
    assert results.count() == 2
    for i, result in enumerate(expected):
        shown = results.nth(i)
        assert shown.locator(".text").inner_text() == result["text"]
        assert shown.locator(".label").inner_text().startswith(result["label"])
        bars = shown.locator(".bar")
        assert bars.locator(".name").all_inner_texts() == list(result["probabilities"])
        track = bars.nth(0).locator(".track").bounding_box()["width"]
        for bar, probability in zip(bars.all(), result["probabilities"].values()):
            assert bar.locator(".value").inner_text() == f"{100 * probability:.1f}%"
            assert bar.locator(".fill").bounding_box()["width"] == pytest.approx(track * probability, abs=1.5)
    assert "student" in page.locator("#model").inner_text()  # from /health
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert page.errors == []  # no script error, no refused resource, no Content-Security-Policy violation


def test_the_apis_errors_are_shown_in_the_page(page):
    page.fill("#texts", "好\n" + "差" * 2001)
    page.click("#classify")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("Line 2: texts[1]: ") and "(HTTP 413)" in error.inner_text()
    assert page.locator("#results .result").count() == 0
    page.fill("#texts", "\n".join(["好"] * 9))  # over --max_texts 8
    page.click("#classify")
    page.wait_for_function("document.getElementById('error').textContent.includes('over the limit of 8')")
    assert all("status of 413" in message for message in page.errors)  # the browser's note of each 413, nothing else


def test_the_policy_stops_scripts_the_page_does_not_carry(page):
    injected = page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
        return window.injected === true;
    }""")
    assert not injected and any("Content Security Policy" in message for message in page.errors)
