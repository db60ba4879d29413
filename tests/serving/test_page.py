"""The page at ``/`` in headless Chromium, where Playwright and its
Chromium are installed; skipped otherwise."""
import threading
import time

import pytest
import torch

from models import CORECT, ModelConfig
from registry import EdgeBuilderRegistry

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from serving import Engine  # noqa: E402
from serving.app import create_app  # noqa: E402

from .test_engine import CountingEncoder  # noqa: E402
from .test_serve import free_port  # noqa: E402


def text_only_engine():
    torch.manual_seed(0)
    model = CORECT(ModelConfig(modalities={"text": 12}, num_classes=3, hidden=8,
                               gnn_heads=2, sequence_heads=2),
                   EdgeBuilderRegistry(entry_points=False).get("causal", past=2))
    return Engine(model, ["neg", "neu", "pos"], text_encoder=CountingEncoder(12))


@pytest.fixture
def page_url():
    engine = text_only_engine()
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1",
                                           port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}/", engine
    server.should_exit = True
    thread.join(timeout=10)


def test_three_utterances_get_their_labels_on_the_page(page_url):
    url, engine = page_url
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch()
        except Exception as error:  # noqa: BLE001 - no browser downloaded
            pytest.skip(f"headless Chromium is not installed: {error}")
        try:
            page = browser.new_page()
            outside = []
            page.on("request", lambda request: outside.append(request.url)
                    if not request.url.startswith(url) else None)
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")
            speakers = page.locator("form.speaker")
            assert speakers.count() == 2
            said = [(0, "hello there"), (1, "I am so angry"), (0, "sorry to hear")]
            for row, text in said:
                speakers.nth(row).locator("input[name=text]").fill(text)
                speakers.nth(row).locator("input[name=text]").press("Enter")
            page.wait_for_function("document.querySelectorAll('li.turn').length === 3")
            labels = page.locator("li.turn").evaluate_all(
                "items => items.map(item => item.dataset.label)")
            assert page.locator("#timeline span").count() == 3
        finally:
            browser.close()
    # What the API gives for the same pushes.
    session = engine.open("check")
    expected = [engine.step([(session, engine.prepare(session, "AB"[row], None, text))])[0]
                for row, text in said]
    assert labels == [e["label"] for e in expected]
    assert outside == []
