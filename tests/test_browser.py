"""The real page in headless Chromium: `rag serve` on a loopback port, driven like a person would.

Needs Debian's chromium (apt-get install chromium) and the playwright package;
the server runs the bundled models, so the module takes a minute or two.
Artefacts (a screenshot, the first-token time) go to test-artifacts/.
"""

from __future__ import annotations

import re

from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
DRONES = "How many drones did Russia launch at Ukraine?"
DRONES_SOURCE = "004_00d272c872e5a298.txt"
ANSWER_TIMEOUT_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium: apt-get install chromium"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs playwright: pip install playwright")
expect = playwright_api.expect

LIGHTHOUSE = (
    "Harbor <b>Lighthouse</b> Report\n\n"
    "The Vellmar lighthouse was repainted in 1987 with 420 litres of blue paint. "
    "The keeper wrote <script>window.__xss = 1</script> and <img src=x onerror=\"window.__xss = 2\"> "
    "and ${window.__xss = 3} in the log as a joke.\n")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-proxy-server"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, rag_server):
    """A fresh tab (a new Gradio session) on the page; fails the test on any off-machine request."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.goto(rag_server)
    expect(page.locator("#rag-question textarea")).to_be_editable(timeout=30_000)
    yield page
    context.close()
    outside = [u for u in requests if urlparse(u).hostname not in ("127.0.0.1", "localhost")
               and urlparse(u).scheme in ("http", "https", "ws", "wss")]
    assert not outside, f"the page reached beyond this machine: {outside}"


def ask(page, question: str) -> None:
    box = page.locator("#rag-question textarea")
    box.fill(question)
    box.press("Enter")


def wait_answered(page, turns: int) -> None:
    """Until the page shows `turns` finished answers and the input is editable again."""
    done = page.locator("#rag-chat .rag-answer, #rag-chat .rag-error, #rag-chat .rag-stopped")
    expect(done).to_have_count(turns, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#rag-question textarea")).to_be_editable(timeout=10_000)


def fill_until_it_holds(page, box, text: str) -> None:
    """Fill a field inside an accordion opened a moment ago.

    Gradio 6 sets a field's initial value again a few milliseconds after an accordion first
    shows it, on the same element; a fill made straight away is overwritten (1 in 7 runs
    here, CI failed on it twice). No person types that fast, so refill until the value holds.
    """
    for _ in range(5):
        box.fill(text)
        page.wait_for_timeout(300)
        if box.input_value() == text:
            return
    expect(box).to_have_value(text)


def latest_sources(page):
    return page.locator("#rag-sources .rag-turn").first


WATCH_FIRST_TOKEN = """() => {
  window.__timing = {};
  const shown = () => [...document.querySelectorAll('#rag-chat .rag-draft, #rag-chat .rag-answer')]
      .filter(el => el.textContent.trim()).length;
  const before = shown();
  document.querySelector('#rag-question textarea').addEventListener('keydown', e => {
    if (e.key === 'Enter') window.__timing.enter = performance.now();
  }, {capture: true, once: true});
  new MutationObserver((_, observer) => {
    if (shown() > before) { window.__timing.first = performance.now(); observer.disconnect(); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def test_ask_stream_cite_and_follow_up(page):
    page.evaluate(WATCH_FIRST_TOKEN)
    ask(page, DRONES)
    expect(page.locator("#rag-chat .rag-working")).to_be_visible(timeout=5_000)
    wait_answered(page, 1)
    timing = page.evaluate("window.__timing")
    first_token_ms = timing["first"] - timing["enter"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "first_token_ms.txt").write_text(f"{first_token_ms:.0f}\n")
    server_side = latest_sources(page).locator(".rag-timing").inner_text()
    print(f"\nfirst visible token {first_token_ms:.0f} ms after Enter (pipeline: {server_side})")

    marker = page.locator("#rag-chat .rag-answer a.rag-cite").first
    expect(marker).to_be_visible()
    target = marker.get_attribute("href")
    page.locator("#rag-sources").evaluate("el => el.scrollTop = el.scrollHeight")  # out of view first
    marker.click()
    passage = page.locator(target)
    expect(passage).to_be_in_viewport()
    expect(passage).to_contain_text(DRONES_SOURCE)
    expect(passage.locator("mark")).to_contain_text("drones")

    ask(page, "and how many were intercepted?")
    wait_answered(page, 2)
    sources = latest_sources(page)
    expect(sources.locator(".rag-query")).to_contain_text("drones")
    expect(sources.locator(".rag-passage").first).to_contain_text("intercept 30")
    page.screenshot(path=str(ARTIFACTS / "answered.png"), full_page=True)


def test_stop_cuts_the_answer_off_and_upload_is_searchable(page, tmp_path):
    ask(page, DRONES)
    expect(page.locator("#rag-chat .rag-working")).to_be_visible(timeout=5_000)
    page.locator("#rag-stop").click()
    expect(page.locator("#rag-chat .rag-stopped")).to_contain_text("Stopped", timeout=5_000)
    expect(page.locator("#rag-question textarea")).to_be_editable(timeout=60_000)
    expect(page.locator("#rag-chat .rag-answer")).to_have_count(0)  # no checked answer replaced it

    (tmp_path / "lighthouse.txt").write_text(LIGHTHOUSE, encoding="utf-8")
    (tmp_path / "broken.txt").write_bytes(b"\x00\x01\x02 not text")
    page.locator("#rag-documents").get_by_text("Documents", exact=True).click()
    page.locator("#rag-upload input[type=file]").set_input_files(
        [str(tmp_path / "lighthouse.txt"), str(tmp_path / "broken.txt")])
    page.locator("#rag-add").click()
    status = page.locator("#rag-upload-status")
    expect(status).to_contain_text("broken.txt was not added", timeout=60_000)
    expect(page.locator("#rag-documents table")).to_contain_text("lighthouse.txt")

    ask(page, "How many litres of paint were used on the Vellmar lighthouse?")
    wait_answered(page, 2)
    expect(page.locator("#rag-chat .rag-answer").last).to_contain_text("420")
    passage = latest_sources(page).locator(".rag-passage", has_text="lighthouse.txt").first
    expect(passage).to_contain_text("<script>window.__xss = 1</script>")
    expect(passage).to_contain_text('<img src=x onerror="window.__xss = 2">')
    expect(passage).to_contain_text("${window.__xss = 3}")
    expect(passage).to_contain_text("Harbor <b>Lighthouse</b> Report")
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0

    page.locator("#rag-remove-pick input").click()  # remove it again in the documents panel
    page.locator("[data-testid=dropdown-option]", has_text="lighthouse.txt").click()
    page.locator("#rag-remove").click()
    expect(status).to_contain_text("Removed lighthouse.txt", timeout=30_000)
    expect(page.locator("#rag-documents table")).not_to_contain_text("lighthouse.txt")


def test_two_tabs_get_their_own_answers(page, browser, rag_server):
    other = browser.new_page()
    other.goto(rag_server)
    expect(other.locator("#rag-question textarea")).to_be_editable(timeout=30_000)
    page.locator("#rag-chat").get_by_text(DRONES).click()  # an example question on the empty chat
    ask(other, "How did Lukashenko describe the West's sanctions?")
    expect(other.locator("#rag-chat")).to_contain_text("sanctions", timeout=3_000)  # not frozen
    wait_answered(page, 1)
    wait_answered(other, 1)
    expect(latest_sources(page).locator(".rag-q")).to_have_text(DRONES)
    expect(latest_sources(other).locator(".rag-q")).to_contain_text("sanctions")
    expect(other.locator("#rag-chat")).not_to_contain_text("drones")
    other.close()


def test_refusal_and_a_missing_model_are_said_plainly(page):
    ask(page, "What is the population of Minsk?")
    wait_answered(page, 1)
    expect(page.locator("#rag-chat .rag-refused")).to_contain_text("documents do not answer")
    searched = latest_sources(page)
    expect(searched).to_contain_text("Passages searched")
    expect(searched.locator(".rag-passage").first).to_be_visible()

    page.locator("#rag-settings").get_by_text("Settings", exact=True).click()
    expect(page.locator("#rag-model")).to_contain_text("Default: ")
    path = page.locator("#rag-model textarea")
    expect(path).to_have_value(re.compile(r"\.gguf$"))
    fill_until_it_holds(page, path, "/nowhere/model.gguf")
    path.blur()  # let the page send the new value before the click reads it
    page.get_by_role("button", name="Load model").click()
    expect(page.locator("#rag-settings .rag-error")).to_contain_text("does not exist", timeout=10_000)


def test_conversations_are_saved_reopened_in_another_tab_and_exported(page, browser, rag_server):
    box = page.locator("#rag-question textarea")
    box.fill("How many drones")
    box.press("Shift+Enter")  # a new line, not a question
    box.type("did Russia launch?")
    expect(box).to_have_value("How many drones\ndid Russia launch?")
    expect(page.locator("#rag-chat .rag-answer")).to_have_count(0)
    box.fill("")
    ask(page, DRONES)
    wait_answered(page, 1)
    saved = page.locator("#rag-thread-list")
    expect(saved).to_contain_text(DRONES, timeout=10_000)

    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    other.goto(rag_server)
    expect(other.locator("#rag-question textarea")).to_be_editable(timeout=30_000)
    expect(other.locator("#rag-chat .rag-answer")).to_have_count(0)  # a new tab starts empty
    other.locator("#rag-thread-list").get_by_text(DRONES).first.click()
    expect(other.locator("#rag-chat .rag-answer")).to_have_count(1, timeout=10_000)
    expect(other.locator("#rag-chat .rag-answer")).to_have_text(page.locator("#rag-chat .rag-answer").inner_text())
    expect(latest_sources(other).locator("mark").first).to_contain_text("drones")

    other.locator("#rag-thread-export").click()
    link = other.locator("#rag-thread-file a").first
    expect(link).to_be_visible(timeout=10_000)
    with other.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"## 1. {DRONES}" in text and DRONES_SOURCE in text and "“" in text

    ask(other, "and how many were intercepted?")  # a follow-up in the reopened thread
    expect(other.locator("#rag-chat .rag-working")).to_be_visible(timeout=5_000)
    other.keyboard.press("Escape")
    expect(other.locator("#rag-chat .rag-stopped")).to_contain_text("Stopped", timeout=10_000)
    other.close()


def test_a_thread_survives_a_restart_with_its_sources_and_a_pdf_page(browser, tmp_path_factory):
    """The saved-threads issue's whole path: two questions, `rag serve` restarted, the thread
    reopened with both answers and their highlighted sources, exported, and a PDF citation
    shown as its page with the cited words highlighted."""
    import sys

    from tests.conftest import free_port, running, server_env
    from tests.test_formats import REPORT_PAGES, make_pdf

    home = tmp_path_factory.mktemp("restart")
    env = server_env(home)

    def serve(log: str):
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        return url, running([sys.executable, "-m", "rag", "serve", "--port", str(port)], url, home / log, env)

    url, server = serve("first.log")
    with server:
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(url)
        ask(tab, DRONES)
        wait_answered(tab, 1)
        ask(tab, "and how many were intercepted?")
        wait_answered(tab, 2)
        answers = tab.locator("#rag-chat .rag-answer").all_inner_texts()
        tab.close()

    url, server = serve("second.log")
    with server:
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(url)
        tab.locator("#rag-thread-list").get_by_text(DRONES).click()
        expect(tab.locator("#rag-chat .rag-answer")).to_have_count(2, timeout=15_000)
        assert tab.locator("#rag-chat .rag-answer").all_inner_texts() == answers
        expect(tab.locator("#rag-sources .rag-turn")).to_have_count(2)
        expect(tab.locator("#rag-sources .rag-turn mark").first).to_be_visible()
        tab.locator("#rag-thread-export").click()
        with tab.expect_download() as download:
            tab.locator("#rag-thread-file a").first.click()
        exported = Path(download.value.path()).read_text(encoding="utf-8")
        assert f"## 1. {DRONES}" in exported and "## 2. and how many were intercepted?" in exported
        assert exported.count(f"{DRONES_SOURCE} (characters") >= 2

        report = home / "report.pdf"
        report.write_bytes(make_pdf(REPORT_PAGES))
        tab.locator("#rag-new-thread").click()
        tab.locator("#rag-documents").get_by_text("Documents", exact=True).click()
        tab.locator("#rag-upload input[type=file]").set_input_files([str(report)])
        tab.locator("#rag-add").click()
        expect(tab.locator("#rag-upload-status")).to_contain_text("Added report.pdf", timeout=60_000)
        tab.locator("#rag-documents").get_by_text("Documents", exact=True).click()  # fold it again
        ask(tab, "When was the Point Aron lighthouse rebuilt?")
        wait_answered(tab, 1)
        expect(tab.locator("#rag-chat .rag-answer")).to_contain_text("1998")
        tab.locator("#rag-sources").evaluate("el => el.scrollTop = el.scrollHeight")
        tab.locator("#rag-chat .rag-answer a.rag-cite").first.click()  # the citation shows its page
        figure = latest_sources(tab).locator(".rag-pdf-page img")
        expect(figure).to_be_in_viewport()
        expect(figure).to_have_attribute("alt", "Page 2 of report.pdf, the cited words highlighted")
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / "threads_and_pdf.png"))
        tab.close()
