"""The status page at `/` in a real browser: Debian's chromium, headless, driven by Playwright for
Python through `executable_path` (scripts/setup-browser.sh installs it; nothing downloads a
browser). Against the real server: the page loads with no console error and no request leaving
the server; it lists the bundled models; its chart moves while clients send photos; a model
unloaded through the API shows as unloaded within 5 s; a dropped photo shows its boxes (in the
DOM, and in screenshots at 1280x800 and 390x844: the boxes' colour is on the photo, and gone
when they are hidden; the screenshots are kept under $OUTPOST_ARTIFACTS/status-page, default
target/artifacts/status-page); a photo that is not an image, one over the size limit and one for
a model that does not exist show the server's own error text; labels that look like markup stay
text. Beside it, an agent (moto's S3 server, a signed repository) shows its state and the reason
it refused a bundle."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import png_pixels
from agent_support import MODEL, TOKEN, Publisher, golden_folder, model_status, start_agent, wait_for
from conftest import ROOT, start_outpost, stop_outpost
from test_repository_s3 import BUCKET, s3  # noqa: F401  (fixture)

# Started first by the workers (conftest.py): about 25 s in all.
pytestmark = pytest.mark.long_running

IMAGES = ROOT / "tests" / "fixtures" / "images"
DETECTOR = "ssd_mobilenet_v1_coco"
CLASSIFIER = "mobilenet_v2_int8"
HOSTILE = "hostile_labels"
# Labels are free text in a model's labels file: any of them could be markup.
HOSTILE_LABEL = '<img src=x onerror="window.__injected = 1">'
MAX_IMAGE_BYTES = 400_000
ARTIFACTS = pathlib.Path(os.environ.get("OUTPOST_ARTIFACTS", ROOT / "target" / "artifacts")) / "status-page"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions"]


def chromium_path():
    done = subprocess.run([str(ROOT / "scripts" / "setup-browser.sh"), "--optional"], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed and cannot be without root")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A page of the status page in its own browser context, with what it logged and asked for."""

    def __init__(self, browser, base_url, width, height, ready=f'article.model[data-model="{DETECTOR}"]'):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.console_errors, self.requests, self.dialogs = [], [], []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(base_url + "/")
        self.page.wait_for_selector(ready)

    def outside_requests(self):
        return [u for u in self.requests if not (u.startswith(self.base_url + "/") or u.startswith("blob:"))]

    def drop(self, path, content_type):
        """Drops the file on the drop zone, as a person dragging it from their desktop does."""
        self.page.evaluate(
            """([bytes, name, type]) => {
                const file = new File([new Uint8Array(bytes)], name, { type });
                const data = new DataTransfer();
                data.items.add(file);
                const zone = document.getElementById("drop-zone");
                for (const kind of ["dragenter", "dragover", "drop"]) {
                    zone.dispatchEvent(new DragEvent(kind, { dataTransfer: data, bubbles: true, cancelable: true }));
                }
            }""",
            [list(path.read_bytes()) if isinstance(path, pathlib.Path) else list(path),
             path.name if isinstance(path, pathlib.Path) else "upload.bin", content_type],
        )

    def choose(self, model):
        self.page.wait_for_selector(f'#try-model option[value="{model}"]', state="attached")
        self.page.select_option("#try-model", model)

    def error_text(self):
        self.page.wait_for_selector("#try-error:not([hidden])")
        return self.page.inner_text("#try-error")

    def close(self):
        self.context.close()


def post(base_url, path, body, content_type="application/octet-stream", headers=None):
    """(status, JSON or text) of a POST."""
    request = urllib.request.Request(base_url + path, data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def hostile_model(models):
    """The classifier again, under another name, with a labels file whose every label is markup."""
    folder = models / HOSTILE
    shutil.copytree(ROOT / "models" / CLASSIFIER, folder)
    lines = (folder / "labels.txt").read_text().splitlines()
    (folder / "labels.txt").write_text("\n".join(HOSTILE_LABEL for _ in lines) + "\n")


@pytest.fixture
def models(tmp_path):
    """A copy of the bundled models."""
    folder = tmp_path / "models"
    shutil.copytree(ROOT / "models", folder)
    return folder


@pytest.fixture
def served(models):
    process, addresses = start_outpost(
        models, "--model-control-mode", "explicit", "--max-image-bytes", str(MAX_IMAGE_BYTES),
        env={"OUTPOST_CONTROL_TOKEN": TOKEN})
    yield addresses["base_url"]
    stop_outpost(process)


class PhotoLoad:
    """Clients posting the street photo to the detector until stopped."""

    def __init__(self, base_url, clients=2):
        self.running, self.answered = True, 0
        body = (IMAGES / "street.jpg").read_bytes()

        def client():
            while self.running:
                status, _ = post(base_url, f"/v2/models/{DETECTOR}/image", body, "image/jpeg")
                assert status == 200
                self.answered += 1

        self.threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=30)


def box_coloured(pixel):
    """The boxes' and their labels' colour (#ff2d55 in style.css), give or take antialiasing."""
    r, g, b = pixel
    return r > 215 and g < 95 and 45 < b < 135


def drawn_box_pixels(page):
    """Pixels of the boxes' colour in screenshots of the photo with its boxes, and without."""
    frame = page.page.locator("#photo-frame")
    shown = png_pixels.count(frame.screenshot(), box_coloured)
    page.page.evaluate("() => { document.getElementById('boxes').hidden = true; }")
    hidden = png_pixels.count(frame.screenshot(), box_coloured)
    page.page.evaluate("() => { document.getElementById('boxes').hidden = false; }")
    print(f"box-coloured pixels: {shown} with the boxes, {hidden} without")
    return shown, hidden


def chart_points(page, model):
    return page.page.get_attribute(f'article.traffic[data-model="{model}"] svg polyline.rps', "points") or ""


def test_the_page_lists_the_models_moves_with_traffic_and_follows_an_unload(browser, served):
    page = Page(browser, served, 1280, 800)
    try:
        for model in (DETECTOR, CLASSIFIER):
            card = page.page.locator(f'article.model[data-model="{model}"]')
            assert card.get_attribute("data-state") == "ready"
            assert "onnxruntime" in card.inner_text()
        assert page.page.is_visible("#control"), "model control is on: its token field shows"

        # Clients send photos: the detector's chart moves and its rate is above zero.
        load = PhotoLoad(served)
        try:
            page.page.wait_for_function(
                f"""() => {{
                    const figures = document.querySelector('article.traffic[data-model="{DETECTOR}"] .figures');
                    return figures && Number(figures.dataset.rps) > 0;
                }}""", timeout=15_000)
            before = chart_points(page, DETECTOR)
            page.page.wait_for_function(
                f"""(before) => {{
                    const line = document.querySelector('article.traffic[data-model="{DETECTOR}"] svg polyline.rps');
                    return line && line.getAttribute("points") !== before;
                }}""", arg=before, timeout=10_000)
        finally:
            load.stop()
        assert load.answered > 0
        assert len(chart_points(page, DETECTOR).split()) >= 2

        # Unloaded through the API: shown as unloaded within 5 s.
        status, answer = post(served, f"/v2/repository/models/{CLASSIFIER}/unload", b"{}", "application/json",
                              {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200, answer
        unloaded_at = time.monotonic()
        page.page.wait_for_selector(f'article.model[data-model="{CLASSIFIER}"][data-state="unloaded"]',
                                    timeout=5_000)
        print(f"shown as unloaded after {time.monotonic() - unloaded_at:.2f} s")

        # A dropped photo: its boxes, drawn over it, and the stage times.
        page.choose(DETECTOR)
        page.drop(IMAGES / "street.jpg", "image/jpeg")
        page.page.wait_for_selector("#try-result:not([hidden]) .box")
        people = page.page.locator('#boxes .box[data-label="person"]')
        assert people.count() >= 4, page.page.inner_text("#answers")
        box = people.first.bounding_box()
        photo = page.page.locator("#photo").bounding_box()
        assert photo["x"] <= box["x"] and box["x"] + box["width"] <= photo["x"] + photo["width"] + 1
        assert "ms" in page.page.inner_text("#timings")
        shown, hidden = drawn_box_pixels(page)
        assert shown > 1000 and hidden < shown / 10, f"box pixels: {shown} drawn, {hidden} without the boxes"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.page.screenshot(path=str(ARTIFACTS / "status-page-1280x800.png"), full_page=True)
        # The README's picture (docs/images/status-page.jpg is a copy of this one).
        page.page.screenshot(path=str(ARTIFACTS / "status-page.jpg"), full_page=True, type="jpeg", quality=80)

        assert page.console_errors == [], page.console_errors
        assert page.outside_requests() == [], page.outside_requests()
    finally:
        page.close()


def test_the_page_shows_the_servers_errors_and_keeps_labels_as_text(browser, served, models):
    hostile_model(models)
    status, answer = post(served, f"/v2/repository/models/{HOSTILE}/load", b"{}", "application/json",
                          {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, answer
    page = Page(browser, served, 1280, 800)
    try:
        page.choose(DETECTOR)

        # Not an image: the server's own words.
        text = b"these bytes are not a photo\n" * 10
        status, answer = post(served, f"/v2/models/{DETECTOR}/image", text, "text/plain")
        assert status >= 400
        page.drop(text, "text/plain")
        assert page.error_text() == f"{status}: {answer['error']}"

        # Over the server's image size limit.
        large = b"\xff\xd8\xff\xe0" + os.urandom(MAX_IMAGE_BYTES)
        status, answer = post(served, f"/v2/models/{DETECTOR}/image", large, "image/jpeg")
        assert status == 413, answer
        page.page.evaluate("() => { document.getElementById('try-error').hidden = true; }")
        page.drop(large, "image/jpeg")
        assert page.error_text() == f"413: {answer['error']}"

        # A model that is not there (gone since the page listed it).
        status, answer = post(served, "/v2/models/no_such_model/image", (IMAGES / "chelsea.png").read_bytes(),
                              "image/png")
        assert status == 404, answer
        page.page.evaluate("""() => {
            const select = document.getElementById("try-model");
            select.append(new Option("no_such_model", "no_such_model"));
            select.value = "no_such_model";
            document.getElementById("try-error").hidden = true;
        }""")
        page.drop(IMAGES / "chelsea.png", "image/png")
        assert page.error_text() == f"404: {answer['error']}"

        # Labels that look like markup are shown as the text they are.
        page.choose(HOSTILE)
        page.drop(IMAGES / "chelsea.png", "image/png")
        page.page.wait_for_selector("#try-result:not([hidden]) #answers li.answer")
        answers = page.page.locator("#answers li.answer").all_inner_texts()
        assert answers and all(a.startswith(HOSTILE_LABEL) for a in answers), answers
        assert page.page.locator("img").count() == 1, "only the photo itself is an image"
        assert page.page.evaluate("() => window.__injected") is None
        assert page.dialogs == []
        # The browser logs each refused request; nothing else may be logged.
        refused = [f"the server responded with a status of {code}" for code in (415, 413, 404)]
        assert len(page.console_errors) == 3 and all(
            expected in logged for expected, logged in zip(refused, page.console_errors)), page.console_errors
        assert page.outside_requests() == [], page.outside_requests()
    finally:
        page.close()


def test_the_page_fits_a_phone(browser, served):
    page = Page(browser, served, 390, 844)
    try:
        width = page.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        page.choose(DETECTOR)
        page.drop(IMAGES / "street.jpg", "image/jpeg")
        page.page.wait_for_selector('#boxes .box[data-label="person"]')
        width = page.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"with a photo, the page is {width} px wide on a 390 px screen"
        shown, hidden = drawn_box_pixels(page)
        assert shown > 300 and hidden < shown / 10, f"box pixels: {shown} drawn, {hidden} without the boxes"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.page.screenshot(path=str(ARTIFACTS / "status-page-390x844.png"), full_page=True)
        assert page.console_errors == [], page.console_errors
    finally:
        page.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_agent_beside_the_server_shows_its_state_and_a_refused_bundle(browser, tmp_path, s3):  # noqa: F811
    """The server asks the agent for its status (no browser reaches the agent): its state, the
    model's active version and a bundle it refused, with the agent's reason."""
    endpoint, _ = s3
    url = f"s3://{BUCKET}/status-page"
    publisher = Publisher(tmp_path / "publisher", endpoint, url)
    models = tmp_path / "models"
    models.mkdir()
    agent_port = free_port()
    server, addresses = start_outpost(
        models, "--model-control-mode", "explicit", "--agent-status-url",
        f"http://127.0.0.1:{agent_port}/status", env={"OUTPOST_CONTROL_TOKEN": TOKEN})
    agent = None
    try:
        agent, status_url = start_agent(
            tmp_path, url, publisher.trusted_root, models, addresses["base_url"],
            {**publisher.env, "OUTPOST_CONTROL_TOKEN": TOKEN},
            "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 2\n[watch]\nwindow_secs = 0\n",
            status_port=agent_port)
        publisher.publish("int8", 1, golden_folder(tmp_path, "ok", "Egyptian cat"))
        wait_for(status_url, lambda r: model_status(r).get("active") == 1, "version 1 to be installed")
        publisher.publish("int8", 2, golden_folder(tmp_path, "wrong", "tabby"))
        report = wait_for(status_url, lambda r: model_status(r).get("rejected"), "version 2 to be refused")
        [refusal] = model_status(report)["rejected"]

        page = Page(browser, addresses["base_url"], 1280, 800, ready="#agent-section:not([hidden])")
        try:
            card = f'article.agent-model[data-model="{MODEL}"]'
            page.page.wait_for_selector(f'{card} li.refusal[data-version="2"]', timeout=10_000)
            shown = page.page.inner_text(f'{card} li.refusal[data-version="2"] .reason')
            assert shown == refusal["reason"]
            facts = page.page.inner_text("#agent")
            assert report["state"] in facts or "idle" in facts or "working" in facts, facts
            assert "active\n1" in page.page.inner_text(card).replace("\t", "\n")
            assert page.console_errors == [], page.console_errors
            assert page.outside_requests() == [], page.outside_requests()
            assert not any(str(agent_port) in u for u in page.requests), "the browser never asks the agent"
        finally:
            page.close()
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=30)
        stop_outpost(server)

