"""The HTTP API (ui/api.py): the official openai client against it, bad requests, the key, the schema.

Most tests run in-process (the API app with the fake encoder and LLM); the last
few run a real `rag serve` with the bundled models (marked `models`).
"""

from __future__ import annotations

import json
import re
import threading

import httpx
import openai
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings as hypothesis_settings
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.applications import Starlette
from starlette.routing import Mount

from rag.errors import ModelError
from rag.pipeline import build_pipeline
from tests.fakes import FakeLLM
from ui.api import create_api

DRONES = "How many Shahed drones did Russia launch?"
RAW = "Russia launched 35 Shahed drones [1]. President Zelensky called it terror [1]."
REAL_DRONES = "How many drones did Russia launch at Ukraine?"
REAL_DRONES_SOURCE = "004_00d272c872e5a298.txt"


class RecordingLLM(FakeLLM):
    """The fake LLM, also remembering the sampling options it was asked with."""

    def __init__(self) -> None:
        super().__init__()
        self.options: list[tuple[int, float]] = []

    def stream_chat(self, messages, max_tokens, temperature):
        self.options.append((max_tokens, temperature))
        return super().stream_chat(messages, max_tokens, temperature)


class FailingLLM(FakeLLM):
    """Writes a few words, then loses its server."""

    def stream_chat(self, messages, max_tokens, temperature):
        yield "Russia launched"
        raise ModelError("Cannot reach the LLM server at http://127.0.0.1:9/v1: start the server.")


class NoLLM(FakeLLM):
    """No usable model (as the page's MissingModel)."""

    def count_tokens(self, text):
        raise ModelError("No LLM configured: pass --model PATH/TO/MODEL.gguf or set RAG_MODEL.")


def mounted(pipeline, settings) -> Starlette:
    """The API at /v1, as `rag serve` mounts it."""
    return Starlette(routes=[Mount("/v1", app=create_api(pipeline, settings))])


@pytest.fixture
def llm() -> RecordingLLM:
    return RecordingLLM()


@pytest.fixture
def app(settings, encoder, llm) -> Starlette:
    return mounted(build_pipeline(settings, encoder=encoder, llm=llm), settings)


@pytest.fixture
def http(app) -> TestClient:
    return TestClient(app)


@pytest.fixture
def client(http) -> openai.OpenAI:
    """The official openai client, talking to the in-process app."""
    return openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0)


def ask_user(question: str) -> list[dict]:
    return [{"role": "user", "content": question}]


def test_models_lists_the_rag_model_with_its_llm(client):
    [model] = client.models.list().data
    assert model.id == "rag"
    assert model.model_extra["metadata"] == {"llm": "fake-llm", "embedder": "fake-encoder"}


def test_completion_is_the_checked_answer_with_citations_beside_it(client, llm, settings):
    llm.queue.append(RAW)
    completion = client.chat.completions.create(model="rag", messages=ask_user(DRONES))
    content = completion.choices[0].message.content
    assert "35 Shahed drones" in content and "Zelensky" not in content  # the check dropped it
    rag = completion.model_extra["rag"]
    assert rag["answer"] == content and not rag["refused"]
    [citation] = rag["citations"]
    assert citation["source"] == "drones.txt"
    text = (settings.corpus[0] / "drones.txt").read_text()
    assert text[citation["start"]:citation["end"]] == citation["quote"]
    assert rag["passages"][0]["source"] == "drones.txt"


def test_stream_sends_drafts_then_the_checked_answer_then_the_sources(client, llm):
    llm.queue.append(RAW)
    chunks = list(client.chat.completions.create(model="rag", messages=ask_user(DRONES), stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    drafts = "".join((c.model_extra or {}).get("rag_draft", "") for c in chunks)
    assert drafts == RAW  # the model's raw words, for clients that show a draft
    assert "35 Shahed drones" in content and "Zelensky" not in content  # plain clients: checked only
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["rag"]["answer"] == content
    assert last.model_extra["rag"]["citations"][0]["source"] == "drones.txt"
    assert len({c.id for c in chunks}) == 1


def test_stream_ends_with_done(http, llm):
    llm.queue.append(RAW)
    with http.stream("POST", "/v1/chat/completions",
                     json={"messages": ask_user(DRONES), "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert "rag" in json.loads(events[-2].removeprefix("data: "))


def test_earlier_user_messages_make_a_follow_up_standalone(client, llm):
    llm.queue.append("Air defences intercepted 30 of them [1].")
    completion = client.chat.completions.create(model="rag", messages=[
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": DRONES},
        {"role": "assistant", "content": "Russia launched 35 Shahed drones [1]."},
        {"role": "user", "content": [{"type": "text", "text": "and how many were intercepted?"}]},
    ])
    rag = completion.model_extra["rag"]
    assert rag["question"] == "and how many were intercepted?"
    assert "30" in completion.choices[0].message.content
    prompt = llm.prompts[-1][-1]["content"]
    assert "Shahed" in prompt and "pirate" not in json.dumps(llm.prompts[-1])


def test_openai_parameters_reach_the_model_and_unknown_ones_are_ignored(client, llm):
    client.chat.completions.create(model="whatever", messages=ask_user(DRONES), temperature=0.7,
                                   max_tokens=64, frequency_penalty=0.5, n=1, user="me",
                                   extra_body={"k": 2, "some_future_option": True})
    assert llm.options[-1] == (64, 0.7)
    client.chat.completions.create(model="rag", messages=ask_user(DRONES), max_completion_tokens=48)
    assert llm.options[-1][0] == 48


def test_k_chooses_how_many_passages_are_retrieved(client):
    completion = client.chat.completions.create(model="rag", messages=ask_user(DRONES), extra_body={"k": 1})
    assert len(completion.model_extra["rag"]["passages"]) == 1


def test_ask_returns_exactly_what_rag_ask_json_prints(http, app, llm, settings, encoder):
    llm.queue.extend([RAW, RAW])
    served = http.post("/v1/ask", json={"question": DRONES, "k": 2}).json()
    direct = build_pipeline(settings, encoder=encoder, llm=llm).ask(DRONES, 2).to_json()
    served.pop("timings_ms"), direct.pop("timings_ms")
    assert served == direct


BAD_CHAT_REQUESTS = [
    ("invalid JSON", b'{"messages": [', "not valid JSON"),
    ("a list instead of an object", b"[]", "Invalid request"),
    ("no messages", {"messages": []}, "messages"),
    ("no messages field", {"model": "rag"}, "messages"),
    ("no user message", {"messages": [{"role": "system", "content": "Hello"}]}, "No user message"),
    ("messages is a string", {"messages": "How many drones?"}, "messages"),
    ("content is a number", {"messages": [{"role": "user", "content": 42}]}, "content"),
    ("unknown role", {"messages": [{"role": "wizard", "content": "Hi"}]}, "role"),
    ("an image part", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
     "type"),
    ("stream is a string", {"messages": ask_user(DRONES), "stream": "yes"}, "stream"),
    ("temperature is a string", {"messages": ask_user(DRONES), "temperature": "hot"}, "temperature"),
    ("temperature too high", {"messages": ask_user(DRONES), "temperature": 9}, "temperature"),
    ("k is a string", {"messages": ask_user(DRONES), "k": "5"}, "k"),
    ("huge k", {"messages": ask_user(DRONES), "k": 10**12}, "k"),
    ("zero max_tokens", {"messages": ask_user(DRONES), "max_tokens": 0}, "max_tokens"),
    ("empty question", {"messages": ask_user("   ")}, "question is empty"),
    ("empty question, streamed", {"messages": ask_user(""), "stream": True}, "question is empty"),
    ("question too long", {"messages": ask_user("why " * 2000)}, "keep it under"),
    ("question too long, streamed", {"messages": ask_user("why " * 2000), "stream": True}, "keep it under"),
    ("message far too long", {"messages": ask_user("x" * 200_000)}, "content"),
    ("answer longer than the context", {"messages": ask_user(DRONES), "max_tokens": 4096}, "context"),
]


@pytest.mark.parametrize("body,needle", [case[1:] for case in BAD_CHAT_REQUESTS],
                         ids=[case[0] for case in BAD_CHAT_REQUESTS])
def test_bad_chat_request_gets_a_clear_400(http, body, needle):
    if isinstance(body, bytes):
        response = http.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    else:
        response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"]
    assert needle in error["message"]


@pytest.mark.parametrize("body,needle", [
    ({}, "question"), ({"question": ""}, "question is empty"), ({"question": 7}, "question"),
    ({"question": "Where?", "k": 0}, "k"), ({"question": "Where?", "K": 3}, "K"),
])
def test_bad_ask_request_gets_a_clear_400(http, body, needle):
    response = http.post("/v1/ask", json=body)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]["message"]


def test_the_openai_client_raises_bad_request_with_the_message(client):
    with pytest.raises(openai.BadRequestError, match="question is empty"):
        client.chat.completions.create(model="rag", messages=ask_user(" "))


def test_unknown_route_and_wrong_method_say_what_exists(http):
    for response, status in ((http.get("/v1/nowhere"), 404), (http.get("/v1/chat/completions"), 405)):
        assert response.status_code == status
        assert "POST /v1/chat/completions" in response.json()["error"]["message"]


def test_no_model_is_a_503_that_says_what_to_do(settings, encoder):
    http = TestClient(mounted(build_pipeline(settings, encoder=encoder, llm=NoLLM()), settings))
    for stream in (False, True):
        response = http.post("/v1/chat/completions", json={"messages": ask_user(DRONES), "stream": stream})
        assert response.status_code == 503
        assert "set RAG_MODEL" in response.json()["error"]["message"]


def test_model_failing_mid_stream_ends_the_stream_with_an_error_the_client_raises(settings, encoder):
    http = TestClient(mounted(build_pipeline(settings, encoder=encoder, llm=FailingLLM()), settings))
    client = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http)
    stream = client.chat.completions.create(model="rag", messages=ask_user(DRONES), stream=True)
    with pytest.raises(openai.APIError, match="Cannot reach the LLM server"):
        list(stream)


def test_api_key_is_required_when_set(settings, encoder, llm):
    keyed = settings.model_copy(update={"api_key": SecretStr("s3cret")})
    http = TestClient(mounted(build_pipeline(keyed, encoder=encoder, llm=llm), keyed))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        response = http.get("/v1/models", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert "RAG_API_KEY" in response.json()["error"]["message"]
    assert http.post("/v1/ask", json={"question": DRONES}).status_code == 401
    good = openai.OpenAI(base_url="http://testserver/v1", api_key="s3cret", http_client=http)
    assert good.models.list().data[0].id == "rag"
    bad = openai.OpenAI(base_url="http://testserver/v1", api_key="guess", http_client=http)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="rag", messages=ask_user(DRONES))


def test_without_a_key_the_api_is_open(http):
    assert http.get("/v1/models").status_code == 200


def test_the_schema_documents_every_route_with_its_request_body(http):
    spec = http.get("/v1/openapi.json").json()
    assert set(spec["paths"]) == {"/models", "/chat/completions", "/ask"}
    assert spec["servers"] == [{"url": "/v1"}]
    chat = spec["paths"]["/chat/completions"]["post"]
    assert chat["requestBody"]["required"]
    assert {"200", "400", "503"} <= set(chat["responses"])
    assert "422" not in chat["responses"]  # FastAPI's default for invalid bodies; this API says 400


@pytest.fixture
def api_schema(app):
    # A schema-breaking request may also be too large (413), and is refused as such.
    config = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
        "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]}}})
    return schemathesis.openapi.from_asgi("/v1/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=20, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_generated_requests_never_get_a_5xx_and_responses_match_the_schema(case):
    # Requests valid by the schema may still be refused (no user message, an empty
    # question), so acceptance of every schema-valid request is not checked.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


# --- A real `rag serve` with the bundled models ------------------------------

@pytest.fixture(scope="module")
def real_client(rag_server) -> openai.OpenAI:
    http = httpx.Client(trust_env=False, timeout=300)
    return openai.OpenAI(base_url=f"{rag_server}v1", api_key="unused", http_client=http, max_retries=0)


@pytest.mark.models
def test_real_server_lists_its_model_and_serves_the_page_and_the_schema(real_client, rag_server):
    [model] = real_client.models.list().data
    assert model.model_extra["metadata"]["llm"] == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    with httpx.Client(trust_env=False) as http:
        assert http.get(rag_server).status_code == 200
        assert "/chat/completions" in http.get(f"{rag_server}v1/openapi.json").json()["paths"]


@pytest.mark.models
def test_real_server_answers_with_citations_streamed_and_not(real_client):
    completion = real_client.chat.completions.create(model="rag", messages=ask_user(REAL_DRONES))
    assert "35" in completion.choices[0].message.content
    assert completion.model_extra["rag"]["citations"][0]["source"] == REAL_DRONES_SOURCE

    chunks = list(real_client.chat.completions.create(model="rag", messages=ask_user(REAL_DRONES), stream=True))
    assert sum(1 for c in chunks if (c.model_extra or {}).get("rag_draft")) > 3  # the model's words, as they came
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    # The same checked answer, but not always word for word: the second request reuses the
    # first one's prompt from llama.cpp's cache, which sums floats in another order, and greedy
    # decoding can then pick another near-tie word ("against Kyiv" for "against Ukraine").
    assert "35" in content
    assert re.findall(r"\[\d+\]", content) == re.findall(r"\[\d+\]", completion.choices[0].message.content)
    assert chunks[-1].model_extra["rag"]["citations"][0]["source"] == REAL_DRONES_SOURCE


@pytest.mark.models
def test_real_server_answers_concurrent_questions_each_correctly(real_client):
    questions = {REAL_DRONES: ("35", REAL_DRONES_SOURCE),
                 "How large a state loan did Moscow promise Minsk?": ("1.5 billion", "001_75e2d4838eb6a778.txt")}
    answers: dict[str, openai.types.chat.ChatCompletion] = {}

    def ask(question: str) -> None:
        answers[question] = real_client.chat.completions.create(model="rag", messages=ask_user(question))

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for question, (fact, source) in questions.items():
        assert fact in answers[question].choices[0].message.content
        assert answers[question].model_extra["rag"]["citations"][0]["source"] == source
