"""The HTTP API of `rag serve`, mounted at /v1 beside the page: OpenAI-compatible chat, and `rag ask --json`.

    GET  /v1/models            one model, "rag" (its LLM and embedder in "metadata")
    POST /v1/chat/completions  OpenAI chat completions, streamed or not
    POST /v1/ask               {"question", "k"} -> exactly the object `rag ask --json` prints
    GET  /v1/openapi.json      the schema of all of the above

With RAG_API_KEY set, every one of them, the schema included, needs the key.

This module only translates HTTP to rag calls and back. The last user message
is the question; earlier user messages are the conversation, which makes a
follow-up standalone as on the page (rag.conversation). System messages are
ignored: the app's own instructions decide how the model answers.

The completion's content is always the checked answer (Answer.text), never the
model's raw words, because the check may drop sentences, correct citation
numbers or answer with a quote instead, and a client that shows `content`
must not show what the check removed. A streamed completion therefore sends:

1. a chunk with the assistant role;
2. while the model writes, chunks with an empty delta and the raw text in an
   extension field, "rag_draft" (plain clients skip them; aware ones may show
   a draft, marked unchecked, as the page does);
3. one chunk whose delta content is the whole checked answer;
4. a last chunk with finish_reason "stop" and the field "rag": the
   `rag ask --json` object, with the citations and passages;
5. `data: [DONE]`.

The cost: a plain client sees the answer appear at once, after the check,
rather than word by word. Errors found before the model's first token (a bad
question, no model, a prompt too long) get an HTTP status as for an unstreamed
request; a later one ends the stream with an OpenAI error event, which the
openai client raises.

Errors use OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with
400 for any malformed request, 401 for a missing or wrong key (when RAG_API_KEY
is set), and 503 when the app cannot answer (no model, model server down).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Route

from rag.conversation import standalone_history, standalone_query
from rag.errors import ContextOverflowError, InputError, RagError
from rag.pipeline import Event, Final, Pipeline, Retrieved, Token
from rag.schema import Answer
from rag.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "/v1"
HEALTH_PATH = "/healthz"
MODEL_ID = "rag"
MAX_MESSAGES = 200
MAX_CONTENT_CHARS = 100_000  # the question itself is held to rag.pipeline.MAX_QUESTION_CHARS
MAX_BODY_BYTES = 2_000_000  # a long chat's history fits; a body past it is refused unread
ROUTES = "GET /v1/models, POST /v1/chat/completions and POST /v1/ask"


# --- Requests ---------------------------------------------------------------

class TextPart(BaseModel):
    """A text part of a message's content (the only kind this API reads)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    type: Literal["text"]
    text: str = Field(max_length=MAX_CONTENT_CHARS)


class ChatMessage(BaseModel):
    """One message of the conversation; only user messages are read."""

    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Annotated[str, Field(max_length=MAX_CONTENT_CHARS)] | list[TextPart] | None = None

    def text(self) -> str:
        """The content as one string."""
        if isinstance(self.content, list):
            return " ".join(part.text for part in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)
    model: str = Field(default=MODEL_ID, max_length=200, description="Ignored: the server has one model.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES,
                                        description="The last user message is the question.")
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=4096, description="Longest answer, in tokens.")
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096, description="Same as max_tokens.")
    k: int | None = Field(default=None, ge=1, le=50, description="Extension: passages to retrieve.")


class AskRequest(BaseModel):
    """One question, as for `rag ask --json`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    question: str = Field(max_length=MAX_CONTENT_CHARS)
    k: int | None = Field(default=None, ge=1, le=50, description="Passages to retrieve.")


# --- Responses (documentation of what the routes return) --------------------

class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape."""

    error: ErrorDetail


class CitationOut(BaseModel):
    n: int
    source: str
    chunk_id: str
    start: int
    end: int
    quote: str
    page: int | None = Field(default=None, description="PDF only.")
    also_in: list[str] | None = Field(default=None, description="Other files holding the same "
                                      "passage (copies), when there are any.")


class PassageOut(BaseModel):
    n: int
    source: str
    chunk_id: str
    score: float
    start: int
    end: int
    text: str
    page: int | None = Field(default=None, description="PDF only.")


class AnswerOut(BaseModel):
    """The `rag ask --json` object."""

    question: str
    answer: str
    refused: bool
    citations: list[CitationOut]
    passages: list[PassageOut]
    timings_ms: dict[str, float]
    model: dict[str, str]
    verdict: float | None = Field(description="The LLM's P(YES) at its reply's first step, that the "
                                  "passages answer; below RAG_ANSWER_THRESHOLD the answer is a "
                                  "refusal. None when the model was not asked.")
    p_yes: float | None = Field(default=None, description="The same as verdict (kept for clients "
                                "that read it).")
    p_cited: float | None = Field(default=None, description="The LLM's P(YES) asked again about the "
                                  "answer, shown only the sentences it cites; below "
                                  "RAG_CHECK_THRESHOLD the answer is a refusal. None when no answer "
                                  "was checked.")


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop"]


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, plus "rag": the answer's citations and passages."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    rag: AnswerOut


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    metadata: dict[str, str]


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


INTERNAL = "Something went wrong while answering; see the server log."
ERRORS = {status: {"model": ErrorResponse, "description": text} for status, text in (
    (400, "Malformed request"), (401, "Missing or wrong API key"), (404, "No such route"),
    (405, "Method not allowed"), (413, "Request body over 2 MB"), (503, "The app cannot answer now (no model, model server down)"))}
# With stream: true, one schema per server-sent event (how OpenAPI 3.0/3.1 tools read
# an event-stream schema): `data` holds a chat.completion.chunk, or [DONE] at the end.
STREAM = {"text/event-stream": {"schema": {
    "type": "object", "description": "With stream: true: one server-sent event.", "required": ["data"],
    "properties": {"data": {"type": "string", "description": "A chat.completion.chunk as JSON, or [DONE]."},
                   "event": {"type": "string"}, "id": {"type": "string"}, "retry": {"type": "integer"}}}}}


# --- Errors ------------------------------------------------------------------

class ApiError(Exception):
    """An HTTP error in OpenAI's shape."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.param = status, kind, code, param
        self.headers = headers or ({"WWW-Authenticate": "Bearer"} if status == 401 else None)

    def body(self) -> dict:
        """The JSON body."""
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}


def api_error(exc: RagError) -> ApiError:
    """The HTTP form of a RagError: the user's fault (400), or the app cannot answer (503)."""
    if isinstance(exc, ContextOverflowError):
        return ApiError(400, str(exc), code="context_length_exceeded")
    if isinstance(exc, InputError):
        return ApiError(400, str(exc), code="invalid_value")
    return ApiError(503, str(exc), kind="server_error", code="unavailable")


def validation_error(exc: RequestValidationError) -> ApiError:
    """Pydantic's complaint about the request, as one readable line."""
    errors, problems = exc.errors(), []
    for error in errors[:3]:
        if error.get("type") == "json_invalid":
            return ApiError(400, "The request body is not valid JSON: send a JSON object.",
                            code="invalid_json")
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    first = next(iter(errors), {})
    param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    return ApiError(400, "Invalid request: " + "; ".join(problems) + ".", code="invalid_value",
                    param=param)


def add_error_handlers(app: FastAPI) -> None:
    """Every error leaves in OpenAI's shape, never as a bare 500 page."""

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return await on_api_error(request, validation_error(exc))

    @app.exception_handler(RagError)
    async def on_rag_error(request: Request, exc: RagError) -> JSONResponse:
        return await on_api_error(request, api_error(exc))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            error = ApiError(exc.status_code, f"No {request.method} {request.url.path} here: the API "
                             f"has {ROUTES}.", headers=exc.headers,
                             code="not_found" if exc.status_code == 404 else "method_not_allowed")
        else:
            error = ApiError(exc.status_code, str(exc.detail), headers=exc.headers)
        return await on_api_error(request, error)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("API request %s failed", request.url.path)
        return await on_api_error(request, ApiError(500, INTERNAL, kind="server_error"))


def document_400_not_422(app: FastAPI) -> None:
    """Drop FastAPI's default 422 from the schema: invalid requests get 400, as from OpenAI."""
    generate = app.openapi

    def openapi() -> dict:
        schema = generate()
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        return schema
    app.openapi = openapi


def key_check(settings: Settings) -> list:
    """The dependency that enforces RAG_API_KEY on every route, or none when no key is set."""
    expected = settings.api_key.get_secret_value()
    if not expected:
        return []
    bearer = HTTPBearer(auto_error=False, description="The key set in RAG_API_KEY on the server.")

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "Missing or wrong API key: send 'Authorization: Bearer <key>' with "
                           "the key set in RAG_API_KEY on the server.", code="invalid_api_key")
    return [Depends(check)]


class BodyLimit:
    """ASGI middleware: a request body over MAX_BODY_BYTES gets a 413 before it is read whole
    (at once by its Content-Length; a chunked body as soon as it passes the limit)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", ())).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return await too_large()(scope, receive, send)
        body, more = bytearray(), True
        while more:  # at most MAX_BODY_BYTES are held; then the app reads them as sent
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, receive, send)  # the client left
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                return await too_large()(scope, receive, send)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()  # a disconnect, later
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, replay, send)


def too_large_text() -> str:
    return (f"The request body is larger than {MAX_BODY_BYTES // 1_000_000} MB: send the question "
            "and a shorter history.")


def too_large() -> JSONResponse:
    error = ApiError(413, too_large_text(), code="request_too_large")
    return JSONResponse(error.body(), status_code=413)


# --- Translation -------------------------------------------------------------

def conversation(messages: list[ChatMessage]) -> tuple[str, str]:
    """The question (the last user message) and its standalone form for retrieval."""
    asked = [m.text() for m in messages if m.role == "user"]
    if not asked:
        raise ApiError(400, "No user message: put the question in a message with role 'user'.",
                       code="invalid_value", param="messages")
    return asked[-1], standalone_query(asked[-1], standalone_history(asked[:-1]))


def completion_head() -> dict:
    """The fields a completion and each of its chunks share."""
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": MODEL_ID}


def chunk(head: dict, delta: dict, finish: str | None = None, **extra) -> str:
    """One chat.completion.chunk as an SSE event."""
    body = {**head, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return sse_event(body)


def sse_event(body: dict) -> str:
    """One server-sent event carrying body as JSON."""
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def event_chunks(head: dict, event: Event) -> list[str]:
    """The SSE events for one pipeline event."""
    if isinstance(event, Token):
        return [chunk(head, {}, rag_draft=event.text)]
    if isinstance(event, Final):
        return [chunk(head, {"content": event.answer.text}),
                chunk(head, {}, "stop", rag=event.answer.to_json())]
    return []


def first_events(stream: Iterator[Event]) -> list[Event]:
    """The events up to the model's first token (or the answer): errors raise here,
    while the response can still carry their HTTP status."""
    events = []
    for event in stream:
        events.append(event)
        if not isinstance(event, Retrieved):
            break
    return events


async def sse(head: dict, stream: Iterator[Event], started: list[Event]) -> AsyncIterator[str]:
    """The streamed completion (see the module docstring); closes the pipeline's stream
    however the response ends, so an abandoned answer frees the model."""
    try:
        yield chunk(head, {"role": "assistant", "content": ""})
        for event in started:
            for text in event_chunks(head, event):
                yield text
        while (event := await run_in_threadpool(next, stream, None)) is not None:
            for text in event_chunks(head, event):
                yield text
    except RagError as exc:
        yield sse_event(api_error(exc).body())
    except Exception:
        log.exception("streaming an answer failed")
        yield sse_event(ApiError(500, INTERNAL, kind="server_error").body())
    finally:
        stream.close()  # not running: the thread calling next() was awaited to its end
    yield "data: [DONE]\n\n"


def completion(head: dict, answer: Answer) -> dict:
    """The unstreamed chat.completion object."""
    return {**head, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop"}],
            "rag": answer.to_json()}


# --- The app -----------------------------------------------------------------

def health_route(pipeline: Pipeline) -> Route:
    """GET /healthz, outside /v1 and without the key, for a load balancer: 200 when this
    replica can answer, 503 when not, both with why. It names no file and no secret."""
    async def healthz(request: Request) -> JSONResponse:
        ready, why = await run_in_threadpool(pipeline.health)
        return JSONResponse({"ready": ready, "why": why, "generation": pipeline.index.generation},
                            status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})
    return Route(HEALTH_PATH, healthz, methods=["GET"])


def create_api(pipeline: Pipeline, settings: Settings) -> FastAPI:
    """The API app around a loaded pipeline; `rag serve` mounts it at /v1."""
    # openapi_url=None: FastAPI's own schema route would skip the key check; ours below has it.
    app = FastAPI(title="Offline RAG API", version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=key_check(settings),
                  description="OpenAI-compatible chat completions over your documents, with "
                  "citations. See the module docstring of ui/api.py.")
    add_error_handlers(app)
    app.add_middleware(BodyLimit)
    document_400_not_422(app)
    started_at = int(time.time())

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(request: Request) -> JSONResponse:
        """The schema of the routes below, its server the prefix the API is mounted at."""
        root = request.scope.get("root_path", "").rstrip("/")
        return JSONResponse({**app.openapi(), "servers": [{"url": root}]} if root else app.openapi())

    @app.get("/models", responses={200: {"model": ModelList}, **ERRORS}, response_model=None)
    def list_models() -> JSONResponse:
        """The one model this server has, with the LLM and embedder behind it."""
        card = {"id": MODEL_ID, "object": "model", "created": started_at, "owned_by": "offline-rag",
                "metadata": {"llm": pipeline.llm.name, "embedder": pipeline.encoder.name}}
        return JSONResponse({"object": "list", "data": [card]})

    @app.post("/chat/completions", response_model=None,
              responses={200: {"model": ChatCompletion, "content": STREAM}, **ERRORS})
    def chat_completions(body: ChatRequest) -> JSONResponse | StreamingResponse:
        """A cited answer to the last user message, streamed (SSE) or as one object."""
        question, query = conversation(body.messages)
        options = dict(query=query, temperature=body.temperature,
                       max_tokens=body.max_tokens or body.max_completion_tokens)
        head = completion_head()
        if not body.stream:
            return JSONResponse(completion(head, pipeline.ask(question, body.k, **options)))
        stream = pipeline.ask_stream(question, body.k, **options)
        try:
            started = first_events(stream)
        except BaseException:
            stream.close()
            raise
        return StreamingResponse(sse(head, stream, started), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/ask", responses={200: {"model": AnswerOut}, **ERRORS}, response_model=None)
    def ask(body: AskRequest) -> JSONResponse:
        """Exactly the object `rag ask --json` prints."""
        return JSONResponse(pipeline.ask(body.question, body.k).to_json())

    return app
