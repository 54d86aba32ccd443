"""One key guards `rag serve` (ui/access.py): the page's login, its endpoints, uploads, model loading, /v1.

Each test starts the real page and API as `rag serve` does (ui.app.launch, gradio's own
server on a free loopback port), with the fake encoder and LLM, and talks HTTP to it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from typer.testing import CliRunner

from rag.cli import app as cli
from rag.pipeline import Pipeline, build_pipeline
from rag.settings import Settings
from tests.conftest import free_port
from ui.access import LOGIN_MESSAGE, MODEL_REFUSED, LoginRequired, check_exposure
from ui.app import create_app, launch, upload_folder
from ui.render import error_html

KEY = "correct-horse-battery-staple"
QUESTION = "How many Shahed drones did Russia launch?"
NOT_A_MODEL = b"just some text, not a GGUF model\n"

# What a browser loads to show the login page (and the startup call gradio's launch() makes
# itself); every other route of the page must refuse a request without the login.
LOGIN_PAGE = {"/", "/login", "/login/", "/logout", "/theme.css", "/favicon.ico", "/manifest.json",
              "/robots.txt", "/gradio_api/startup-events", "/assets/{path}", "/static/{path}",
              "/svelte/{path}"}


@dataclass
class Server:
    """A running page and API, a client that has not logged in, and the pipeline behind them."""

    http: httpx.Client
    pipeline: Pipeline
    blocks: gr.Blocks


@contextlib.contextmanager
def start(settings: Settings, encoder, llm, exposed: bool = False) -> Iterator[Server]:
    pipeline = build_pipeline(settings, encoder=encoder, llm=llm)
    port = free_port()
    blocks = launch(create_app(pipeline, settings, exposed), pipeline, settings, port=port, block=False)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30) as http:
            yield Server(http, pipeline, blocks)
    finally:
        blocks.close()


@pytest.fixture
def keyed(settings) -> Settings:
    return settings.model_copy(update={"api_key": SecretStr(KEY)})


@pytest.fixture
def server(keyed, encoder, llm) -> Iterator[Server]:
    """`rag serve` on loopback with RAG_API_KEY set."""
    with start(keyed, encoder, llm) as running:
        yield running


def log_in(http: httpx.Client, password: str = KEY) -> httpx.Response:
    return http.post("/login", data={"username": "anyone", "password": password})


def outputs(http: httpx.Client, event: str, *inputs) -> list:
    """What one of the page's events returns, run through gradio's /call route."""
    posted = http.post(f"/gradio_api/call/{event}", json={"data": list(inputs)})
    assert posted.status_code == 200, posted.text
    stream = http.get(f"/gradio_api/call/{event}/{posted.json()['event_id']}").text
    kind, data = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, re.MULTILINE)[-1]
    assert kind == "complete", stream
    return json.loads(data)


def ways_to_run(blocks: gr.Blocks, event: str, *inputs) -> list[tuple[str, dict]]:
    """Every route of gradio's that runs a page event, with a body asking for it."""
    fn_index = next(i for i, fn in blocks.fns.items() if fn.api_name == event)
    data = {"data": list(inputs)}
    return [(f"/gradio_api/call/{event}", data), (f"/gradio_api/call/v2/{event}", data),
            (f"/gradio_api/run/{event}", data), (f"/gradio_api/api/{event}", data),
            ("/gradio_api/queue/join", {**data, "fn_index": fn_index, "session_hash": "intruder",
                                        "event_data": None, "trigger_id": None})]


def searched_sources(http: httpx.Client) -> set[str]:
    """The files the key-protected API answers from now."""
    answer = http.post("/v1/ask", json={"question": QUESTION},
                       headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200, answer.text
    return {p["source"] for p in answer.json()["passages"]}


# --- Without the login, the page's endpoints change nothing ------------------------

def test_without_the_login_no_endpoint_switches_the_collection(server, keyed):
    before = searched_sources(server.http)
    for path, body in ways_to_run(server.blocks, "switch_collection", "attacker_coll"):
        response = server.http.post(path, json=body)
        assert response.status_code == 401, (path, response.text)
    assert not (keyed.data_dir / "collections" / "attacker_coll").exists()
    assert server.pipeline.settings.collection == "default"
    assert searched_sources(server.http) == before
    assert "drones.txt" in before


def test_without_the_login_nothing_is_uploaded_or_added(server, keyed, tmp_path):
    document = tmp_path / "planted-3f9c.txt"
    document.write_text("A planted article about drones.\n")
    upload = server.http.post("/gradio_api/upload", files={"files": (document.name, document.read_bytes())})
    assert upload.status_code == 401
    assert not list(Path(server.blocks.server_app.uploaded_file_dir).rglob(document.name))
    added = [server.http.post(path, json=body).status_code
             for path, body in ways_to_run(server.blocks, "add_documents", [str(document)])]
    assert added == [401] * len(added)
    assert not upload_folder(keyed).exists()
    assert document.name not in server.pipeline.index.files


def test_without_the_login_loading_a_model_is_refused_alike_for_any_path(server, tmp_path):
    present = tmp_path / "notes.txt"
    present.write_bytes(NOT_A_MODEL)
    llm = server.pipeline.llm
    replies = {}
    for path in (str(present), str(tmp_path / "missing.gguf")):
        replies[path] = [(r.status_code, r.content) for r in (
            server.http.post(route, json=body) for route, body in ways_to_run(server.blocks, "load_model", path))]
    first, second = replies.values()
    assert first == second  # nothing tells a file that exists from one that does not
    assert {status for status, _ in first} == {401}
    assert server.pipeline.llm is llm


def test_every_route_but_the_login_page_refuses_a_request_without_the_login(server):
    paths = server.blocks.server_app.openapi()["paths"]
    assert {"/gradio_api/call/{api_name}", "/gradio_api/queue/join", "/gradio_api/upload",
            "/gradio_api/file={path_or_url}", "/config", "/gradio_api/info",
            "/gradio_api/heartbeat/{session_hash}", "/gradio_api/cancel"} <= set(paths)
    allowed = []
    for path, operations in paths.items():
        url = re.sub(r"\{[^}]+\}", "x", path)
        for method in operations:
            # Status only: an open /heartbeat or /queue/data would stream for as long as one listens.
            with server.http.stream(method.upper(), url, json={} if method == "post" else None) as response:
                if response.status_code != 401:
                    allowed.append(path)
    assert set(allowed) <= LOGIN_PAGE
    assert server.http.get("/gradio_api/startup-events").json() is False  # launch() started it: no-op
    assert server.http.get("/openapi.json").status_code == 401


def test_the_login_page_says_how_to_log_in_and_shows_nothing_of_the_page(settings, encoder, llm, tmp_path):
    model = tmp_path / "private" / "my-model.gguf"
    keyed = settings.model_copy(update={"api_key": SecretStr(KEY), "model": str(model)})
    with start(keyed, encoder, llm) as server:
        page = server.http.get("/").text
        assert LOGIN_MESSAGE.replace("'", "\\u0027") in page
        assert '"auth_required":true' in page
        assert str(model) not in page and "switch_collection" not in page  # the page's fields and events


def test_a_websocket_without_the_login_is_refused():
    # Gradio 6.31 has no websocket route; one a later version adds is closed all the same.
    async def greet(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", greet)], middleware=[Middleware(LoginRequired)])
    app.cookie_id, app.tokens = "c", {"t0ken": "anyone"}  # as gradio's App keeps its logins
    client = TestClient(app)
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws"):
        pass
    client.cookies.set("access-token-c", "t0ken")
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "hello"


# --- The key opens the API and its schema ---------------------------------------------

def test_the_api_and_its_schema_need_the_key(server):
    for path in ("/v1/openapi.json", "/v1/models"):
        refused = server.http.get(path)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert server.http.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    schema = server.http.get("/v1/openapi.json", headers={"Authorization": f"Bearer {KEY}"})
    assert schema.status_code == 200
    assert "/chat/completions" in schema.json()["paths"]
    assert schema.json()["servers"] == [{"url": "/v1"}]


# --- With the login, the page works ------------------------------------------------------

def test_a_wrong_key_does_not_log_in(server):
    refused = log_in(server.http, "guess")
    assert refused.status_code == 400 and "Incorrect credentials" in refused.text
    assert server.http.post("/gradio_api/call/switch_collection", json={"data": ["news"]}).status_code == 401


def test_with_the_login_the_page_switches_the_collection(server, keyed):
    assert log_in(server.http).status_code == 200
    docs, notice, _, collection = outputs(server.http, "switch_collection", "news")
    assert "Collection &#x27;news&#x27; is empty" in notice
    assert collection["value"] == "news"
    assert server.pipeline.settings.collection == "news"
    assert (keyed.data_dir / "collections" / "news").is_dir()
    assert searched_sources(server.http) == set()  # the API searches the new, empty collection


def test_another_site_cannot_use_a_logged_in_browser(server, keyed):
    """CSRF: a page elsewhere that the logged-in user visits posts to the server with their
    cookie; its Origin gives it away. The page's own requests still work."""
    assert log_in(server.http).status_code == 200
    elsewhere = {"Origin": "http://evil.example"}
    refused = server.http.post("/gradio_api/call/switch_collection", json={"data": ["attacker_coll"]},
                               headers=elsewhere)
    assert refused.status_code == 403 and "another site" in refused.text
    assert not (keyed.data_dir / "collections" / "attacker_coll").exists()
    for forged in ({"Origin": "null"}, {"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"}):
        assert server.http.post("/gradio_api/call/switch_collection", json={"data": ["attacker_coll"]},
                                headers=forged).status_code == 403
    assert not (keyed.data_dir / "collections" / "attacker_coll").exists()
    api = server.http.post("/v1/ask", json={"question": QUESTION}, headers={
        **elsewhere, "Authorization": f"Bearer {KEY}"})  # the API takes its key from anywhere
    assert api.status_code == 200
    own = {"Origin": str(server.http.base_url).rstrip("/")}
    assert server.http.post("/gradio_api/call/switch_collection", json={"data": ["news"]},
                            headers=own).status_code == 200


def test_on_loopback_the_logged_in_page_loads_a_model_from_any_path_as_before(server, tmp_path):
    present = tmp_path / "notes.txt"
    present.write_bytes(NOT_A_MODEL)
    log_in(server.http)
    [said] = outputs(server.http, "load_model", str(present))
    assert "is not a GGUF model" in said
    [said] = outputs(server.http, "load_model", str(tmp_path / "missing.gguf"))
    assert "does not exist" in said


# --- A page other machines can reach loads models from the models folder only ------------

@pytest.mark.parametrize("key", [KEY, ""], ids=["with a key", "with --no-key"])
def test_an_exposed_page_loads_a_path_only_from_the_models_folder(key, settings, encoder, llm, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "notes.gguf").write_bytes(NOT_A_MODEL)
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(NOT_A_MODEL)
    (models / "link.gguf").symlink_to(outside)
    exposed = settings.model_copy(update={"api_key": SecretStr(key), "models_dir": models})
    with start(exposed, encoder, llm, exposed=True) as server:
        if key:
            log_in(server.http)
        llm_before = server.pipeline.llm
        refusals = {path: outputs(server.http, "load_model", path)[0] for path in (
            str(outside), str(tmp_path / "missing.gguf"), "/etc/hostname", "/etc/no-such-file",
            str(models / ".." / "outside.gguf"), "../outside.gguf", str(models / "link.gguf"))}
        assert set(refusals.values()) == {error_html(MODEL_REFUSED)}  # one message, file there or not
        # Inside the folder a path is loaded as on loopback, by its full path or its name.
        for path in (str(models / "notes.gguf"), "notes.gguf"):
            assert "is not a GGUF model" in outputs(server.http, "load_model", path)[0]
        assert server.pipeline.llm is llm_before


# --- Serving beyond this machine takes a key, or --no-key ------------------------------

@pytest.mark.parametrize("where", [["--host", "0.0.0.0"], ["--host", "192.168.1.20"], ["--share"]])
def test_serving_beyond_this_machine_without_a_key_refuses_to_start(where, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("rag serve went on without a key")
    monkeypatch.setattr("rag.cli.with_model_file", must_not_run)
    monkeypatch.setattr("ui.app.serve", must_not_run)
    result = CliRunner().invoke(cli, ["serve", *where], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "set RAG_API_KEY" in result.output and "--no-key" in result.output


def test_serving_beyond_this_machine_is_open_only_when_asked_and_then_says_so(settings, keyed):
    assert check_exposure(settings, "127.0.0.1", share=False, no_key=False) is None
    assert check_exposure(settings, "localhost", share=False, no_key=False) is None
    assert check_exposure(keyed, "0.0.0.0", share=True, no_key=False) is None
    warning = check_exposure(settings, "0.0.0.0", share=False, no_key=True)
    assert "anyone who can reach it can use the page" in warning
    assert "add and remove documents, switch collections and load models" in warning
