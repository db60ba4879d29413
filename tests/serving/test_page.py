"""The page at ``/`` in headless Chromium, driven by Playwright: an installed
Chromium or Chrome (Debian's ``chromium``, say), else the browser Playwright
downloaded; skipped where there is neither, or no Playwright."""
import json
import os
import re
import shutil
import threading
import time
import urllib.request
from contextlib import contextmanager

import pytest
import torch

from models import CORECT, ModelConfig
from registry import EdgeBuilderRegistry

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright is not installed (pip install playwright)")

from serving import Engine  # noqa: E402
from serving.app import create_app  # noqa: E402

from .helpers import CountingEncoder, free_port  # noqa: E402

# A headless browser per module: seconds to start.
pytestmark = pytest.mark.slow

# Where Playwright cannot download its own browser, a packaged one will do.
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
             "chrome")
SAID = [("A", "hello there"), ("B", "I am so angry"), ("A", "sorry to hear")]


class FailingEncoder(CountingEncoder):
    """A sentence encoder that fails on one text, as one out of memory would."""

    def __call__(self, texts):
        if "boom" in texts:
            raise RuntimeError("the encoder ran out of memory")
        return super().__call__(texts)


def text_only_engine(encoder=None):
    torch.manual_seed(0)
    model = CORECT(ModelConfig(modalities={"text": 12}, num_classes=3, hidden=8,
                               gnn_heads=2, sequence_heads=2),
                   EdgeBuilderRegistry(entry_points=False).get("causal", past=2))
    return Engine(model, ["neg", "neu", "pos"], text_encoder=encoder or CountingEncoder(12),
                  info={"graph": {"name": "causal", "params": {"past": 2}}})


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        installed = next(filter(None, map(shutil.which, CHROMIUMS)), None)
        if installed is None and not os.path.exists(playwright.chromium.executable_path):
            pytest.skip(f"no Chromium: none of {', '.join(CHROMIUMS)} is on PATH, and "
                        f"Playwright has no browser at {playwright.chromium.executable_path}")
        # A browser that is there but will not start is a failure, not a skip.
        browser = playwright.chromium.launch(executable_path=installed)
        yield browser
        browser.close()


@contextmanager
def served(engine):
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        # A server that crashed on start (its traceback is in the warnings) is not waited for.
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def loaded(browser, url):
    """The page, ready, and every URL it asked for outside ``url``."""
    page = browser.new_page()
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith(url) else None)
    try:
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        yield page, outside
    finally:
        page.close()


def say(page, speaker, text):
    rows = page.locator("form.speaker")
    row = rows.nth([rows.nth(i).locator("input[name=name]").input_value()
                    for i in range(rows.count())].index(speaker))
    row.locator("input[name=text]").fill(text)
    row.locator("input[name=text]").press("Enter")


def test_three_pushes_show_the_apis_labels_probabilities_and_colours(browser):
    engine = text_only_engine()
    with served(engine) as url, loaded(browser, url) as (page, outside):
        assert page.locator("form.speaker").count() == 2
        for speaker, text in SAID:
            say(page, speaker, text)
        page.wait_for_function("document.querySelectorAll('li.turn').length === 3")
        assert page.locator("#error").text_content() == ""
        labels = page.locator("li.turn .label").all_text_contents()
        shown = [int(re.match(r"(\d+)%", meta).group(1))
                 for meta in page.locator("li.turn .meta").all_text_contents()]
        timeline = page.evaluate("""() => {
            const legend = {};
            for (const entry of document.querySelectorAll("#legend span"))
                legend[entry.textContent] = getComputedStyle(entry.firstChild).backgroundColor;
            return [...document.querySelectorAll("#timeline span")].map(span =>
                [span.dataset.label, getComputedStyle(span).backgroundColor, legend[span.dataset.label]]);
        }""")
        with urllib.request.urlopen(url + "sessions/" + page.evaluate("session")) as response:
            api = json.load(response)["predictions"]
    assert [p["speaker"] for p in api] == [speaker for speaker, _ in SAID]
    assert labels == [p["label"] for p in api]
    # As displayed: a whole percent, rounded.
    for percent, prediction in zip(shown, api):
        assert abs(percent - 100 * prediction["probability"]) <= 0.5
    assert [label for label, _, _ in timeline] == labels
    for _, colour, in_legend in timeline:
        assert colour == in_legend and colour != "rgba(0, 0, 0, 0)"
    assert len({colour for _, colour, _ in timeline}) == len(set(labels))
    # The same pushes straight into the engine: the page sent what was typed.
    session = engine.open("check")
    expected = [engine.step([(session, engine.prepare(session, speaker, None, text))])[0]
                .to_json() for speaker, text in SAID]
    assert labels == [e["label"] for e in expected]
    assert [p["probability"] for p in api] == pytest.approx(
        [e["probability"] for e in expected])
    assert outside == []


def test_a_refused_push_says_why_and_gives_the_words_back(browser):
    with served(text_only_engine(FailingEncoder(12))) as url, \
            loaded(browser, url) as (page, outside):
        say(page, "A", "hello there")
        page.wait_for_function("document.querySelectorAll('li.turn').length === 1")
        say(page, "B", "boom")
        page.wait_for_function("document.getElementById('error').textContent !== ''")
        assert page.locator("#error").text_content() == (
            "B: \u201cboom\u201d was refused: 500: the server could not step this push "
            "(RuntimeError: the encoder ran out of memory); the session is as it was")
        assert page.locator("form.speaker").nth(1).locator(
            "input[name=text]").input_value() == "boom"
        assert page.locator("li.turn").count() == 1
        assert page.locator("#timeline span").count() == 1
        # The dialogue goes on, and the error clears.
        say(page, "A", "sorry to hear")
        page.wait_for_function("document.querySelectorAll('li.turn').length === 2")
        assert page.locator("#error").text_content() == ""
    assert outside == []
