"""The Gradio chat page (`rag serve`): streamed, cited answers; documents and settings panels.

The page renders what rag/ returns (markup in ui.render); it holds no retrieval
or prompt logic. The process has one llama.cpp model, which cannot answer two
questions at once, so answers and model swaps share one queue slot
(concurrency id "llm"): a second tab waits its turn with its queue position
shown, and its page stays responsive meanwhile. Index updates (uploads,
removals, switching the collection) have their own slot, so they never block
the questions of other tabs. Like the model, the collection searched is one
per server: switching it in one tab switches it for all (and for the API).
With RAG_API_KEY set, the page and every one of its endpoints need a login
with the key (ui.access).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware
from starlette.routing import Mount

from rag.conversation import standalone_query
from rag.errors import ModelError, RagError
from rag.generate import ChatModel, Message, load_chat_model
from rag.ingest import SUPPORTED_NAMES, SUPPORTED_SUFFIXES
from rag.library import content_hashes, indexed_hashes, list_collections, remove_documents
from rag.pipeline import Event, Pipeline, Retrieved, Token, build_pipeline, ensure_index, index_paths
from rag.models import STANDARD
from rag.schema import Answer
from rag.settings import Settings
from rag.threads import (Thread, ThreadStore, ThreadsUnavailable, citation_state, export_markdown,
                         threads_path)
from ui.access import (LOGIN_MESSAGE, MODEL_REFUSED, LoginRequired, check_exposure, exposed_model_choice,
                       is_exposed, key_login)
from ui.api import PREFIX as API_PREFIX, create_api, health_route
from ui.pdf import cited_page_uri
from ui.render import Turn, chat_messages, documents_html, error_html, notice_html, sources_html
from ui.style import CSS

log = logging.getLogger(__name__)

# Escape stops the answer being written, from anywhere on the page. (Enter asks and
# Shift+Enter starts a new line: gradio's Textbox does both.)
KEYS = """() => {
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') document.querySelector('#rag-stop')?.click();
  });
}"""

ASK_PLACEHOLDER = "Ask a question and press Enter"
WAIT_FOR_ANSWER = "Wait for the answer, or stop it, before opening another conversation."
EXAMPLES = (
    "How many drones did Russia launch at Ukraine?",
    "How did Lukashenko describe the West's sanctions?",
    "Why did Russian soldiers arrive in Belarus?",
)


class MissingModel:
    """Stands in for an LLM that failed to load, so the page starts and says why."""

    name = "none"

    def __init__(self, error: RagError, n_ctx: int) -> None:
        self.error, self.n_ctx = error, n_ctx

    def count_tokens(self, text: str) -> int:
        raise self.error

    def stream_chat(self, messages: list[Message], max_tokens: int,
                    temperature: float) -> Iterator[str]:
        raise self.error


def load_llm(settings: Settings, path: str | None = None) -> ChatModel:
    """The GGUF model at path (default: the configured LLM, maybe a server); ModelError when unusable."""
    if path is None:
        return load_chat_model(settings)
    return load_chat_model(settings.model_copy(update={"model": path, "llm_url": ""}))


def upload_folder(settings: Settings) -> Path:
    """Where uploaded documents are kept: beside the index, in the user's data folder."""
    return Path(settings.index_dir).expanduser().resolve().parent / "uploads"


def updated(turn: Turn, event: Event) -> Turn:
    """The turn after one pipeline event."""
    if isinstance(event, Retrieved):
        return replace(turn, hits=event.hits)
    if isinstance(event, Token):
        return replace(turn, draft=turn.draft + event.text)
    return replace(turn, answer=event.answer, query=event.answer.query)


class ChatPage:
    """The event handlers of one page, sharing one pipeline across sessions; an exposed page
    (one other machines can reach) loads models by name or from the models folder only."""

    def __init__(self, pipeline: Pipeline, exposed: bool = False) -> None:
        self.pipeline = pipeline
        self.exposed = exposed
        self.stopping: set[str] = set()  # sessions whose answer should stop at the next token

    @property
    def settings(self) -> Settings:
        """The settings of the collection searched now (other collections derive from them)."""
        return self.pipeline.settings

    def start(self, question: str, turns: list[Turn]) -> tuple:
        """Show the question at once, with a working indicator; lock the input meanwhile."""
        question = " ".join((question or "").split())
        if not question:
            return gr.skip(), turns, gr.skip(), gr.skip()
        turns = [*turns, Turn(question)]
        return gr.update(value="", interactive=False), turns, chat_messages(turns), sources_html(turns)

    def answer(self, turns: list[Turn], k: float, temperature: float, max_tokens: float,
               request: gr.Request) -> Iterator[tuple]:
        """Stream the last question's answer: passages, draft tokens, then the checked answer."""
        session = request.session_hash
        self.stopping.discard(session)
        if not turns or not turns[-1].pending:
            yield gr.update(interactive=True), turns, gr.skip(), gr.skip()
            return
        turn = turns[-1]
        history = [t.query or t.question for t in turns[:-1]]
        turn = replace(turn, query=standalone_query(turn.question, history))
        stream = self.pipeline.ask_stream(turn.question, int(k), query=turn.query,
                                          temperature=float(temperature), max_tokens=int(max_tokens))
        try:
            with closing(stream):  # closing it on Stop ends llama.cpp's generation there
                for event in stream:
                    if session in self.stopping:
                        turn = replace(turn, stopped=True)
                        break
                    turn = updated(turn, event)
                    turns = [*turns[:-1], turn]
                    yield gr.skip(), turns, chat_messages(turns), \
                        gr.skip() if isinstance(event, Token) else sources_html(turns)
        except RagError as exc:
            turn = replace(turn, error=str(exc))
        except Exception:  # the page must say something; the details go to the log
            log.exception("answering %r failed", turn.question)
            turn = replace(turn, error="Something went wrong while answering; see the server log.")
        self.stopping.discard(session)
        if turn.answer is not None:
            turn = replace(turn, pages=self.cited_pages(turn.answer))
        turns = [*turns[:-1], turn]
        yield gr.update(interactive=True), turns, chat_messages(turns), sources_html(turns)

    def stop(self, turns: list[Turn], request: gr.Request) -> tuple:
        """Stop the answer at its next token; show the draft so far, marked as unchecked.

        Cooperative rather than Gradio's `cancels`: the running answer notices the flag,
        closes the pipeline's stream and unlocks the input itself, so no half-cancelled
        event is left holding the model.
        """
        if not turns or not turns[-1].pending:
            return gr.skip(), gr.skip()
        self.stopping.add(request.session_hash)
        turns = [*turns[:-1], replace(turns[-1], stopped=True)]
        return turns, chat_messages(turns)

    def cited_pages(self, answer: Answer, then: dict[str, str] | None = None
                    ) -> tuple[tuple[int, str, bool], ...]:
        """For each cited PDF passage: (n, its page as an image, whether the cited words were
        found and highlighted) (ui.pdf), from the file on disk; none for a file that cannot be
        rendered or, with `then` (source -> content hash when cited), has changed since."""
        quotes: dict[int, list[str]] = {}
        for c in answer.citations:
            if c.page is not None:
                quotes.setdefault(c.n, []).append(c.quote)
        pages = []
        for n, said in quotes.items():
            hit = answer.hits[n - 1]
            indexed = self.pipeline.index.files.get(hit.chunk.source)
            if indexed is None or not indexed.path or \
                    then is not None and then.get(hit.chunk.source) != indexed.content_hash:
                continue  # not indexed now, or not the file that was cited
            try:
                pages.append((n, *cited_page_uri(Path(indexed.path), hit.chunk.page, said)))
            except (OSError, ValueError) as exc:
                log.info("not showing page %s of %s: %s", hit.chunk.page, hit.chunk.source, exc)
        return tuple(pages)

    @property
    def threads(self) -> ThreadStore:
        """The saved threads of this server's data folder (rag.threads)."""
        return ThreadStore(threads_path(self.settings.data_dir))

    def save_turn(self, turns: list[Turn], thread_id: str | None) -> tuple:
        """Save the last checked answer in the tab's thread (started by its first question);
        if the history cannot be written, say so, and the conversation goes on."""
        if not turns or turns[-1].answer is None:
            return gr.skip(), gr.skip(), gr.skip()
        turn = turns[-1]
        files = content_hashes(self.pipeline.index.files.values())  # the index that answered
        cited = {c.source: files[c.source] for c in turn.answer.citations if c.source in files}
        try:
            if not thread_id:
                thread_id = self.threads.create(turns[0].question, self.settings.collection)
            self.threads.add_turn(thread_id, turn.question, turn.query, turn.answer, cited)
            return thread_id, self.thread_choices("", thread_id), ""
        except RagError as exc:
            return gr.skip(), gr.skip(), error_html(f"This answer was not saved: {exc}")

    def live_hashes(self) -> dict[str, str]:
        """Source -> content hash of what the collection searched now indexes (its live generation)."""
        self.pipeline.follow_index()
        return content_hashes(self.pipeline.index.files.values())

    def history(self, search: str = "", picked: str | None = None) -> tuple[dict, str]:
        """The sidebar's list of saved threads (newest first, filtered by search), and why the
        history is unavailable, if it is (the page answers all the same)."""
        try:
            found = self.threads.list(search or "")
        except ThreadsUnavailable as exc:
            return gr.update(choices=[], value=None), error_html(str(exc))
        choices = [(f"{t.title} · {t.collection}", t.id) for t in found]
        return gr.update(choices=choices, value=picked if picked in {t.id for t in found} else None), ""

    def thread_choices(self, search: str = "", picked: str | None = None) -> dict:
        """The sidebar's list of saved threads (see history)."""
        return self.history(search, picked)[0]

    def open_thread(self, thread_id: str | None, turns: list[Turn] | None = None) -> tuple:
        """Show a saved thread as it was answered; follow-up questions go on from it."""
        if not thread_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if turns and turns[-1].pending:  # its answer would be saved into the thread opened
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), error_html(WAIT_FOR_ANSWER), gr.skip()
        try:
            thread = self.threads.get(thread_id)
        except RagError as exc:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), error_html(str(exc)), gr.skip()
        same = thread.summary.collection == self.settings.collection
        turns = [Turn(t.question, query=t.query, hits=t.answer.hits, answer=t.answer,
                      pages=self.cited_pages(t.answer, t.files) if same else ()) for t in thread.turns]
        asked = thread.summary.collection
        if not same:  # read, not continued: its follow-ups would search
            gone = asked not in {c.name for c in list_collections(self.settings) if c.documents is not None}
            why = (f"Collection '{asked}' no longer exists" if gone else
                   f"This conversation asked collection '{asked}'; this server now searches "
                   f"'{self.settings.collection}' (switch it under Documents to continue)")
            note = notice_html(f"{why}: it can be read here, not continued.")
            return turns, chat_messages(turns), sources_html(turns), thread_id, note, \
                gr.update(interactive=False, placeholder="Read only: start a new conversation to ask")
        return turns, chat_messages(turns), sources_html(turns), thread_id, self.thread_note(thread), \
            gr.update(interactive=True, placeholder=ASK_PLACEHOLDER)

    def thread_note(self, thread: Thread) -> str:
        """What changed since a thread of the collection searched now was answered: cited files
        changed or gone."""
        current = self.live_hashes()
        changed = sorted({f"{s}{state}" for t in thread.turns for s in t.files
                          if (state := citation_state(s, t.files, current))})
        if not changed:
            return ""
        return notice_html("Cited files since: " + "; ".join(changed) + ". The passages shown are "
                           "as they were cited.")

    def export_thread(self, thread_id: str | None) -> tuple:
        """The open thread as a Markdown file to download (rag.threads.export_markdown)."""
        if not thread_id:
            return gr.skip(), error_html("Ask a question or open a conversation to export it.")
        try:
            thread = self.threads.get(thread_id)
        except RagError as exc:
            return gr.skip(), error_html(str(exc))
        asked = thread.summary.collection  # the same marks as `rag threads export`
        current = self.live_hashes() if asked == self.settings.collection else \
            indexed_hashes(self.settings, asked)
        folder = Path(tempfile.mkdtemp(prefix="rag-export-"))
        name = re.sub(r"[^\w-]+", "-", thread.summary.title).strip("-")[:60] or "conversation"
        path = folder / f"{name}.md"
        path.write_text(export_markdown(thread, current), encoding="utf-8")
        return gr.update(value=str(path), visible=True), ""

    def new_thread(self, turns: list[Turn]) -> tuple:
        """An empty conversation in this tab (not while an answer is being written)."""
        if turns and turns[-1].pending:
            return (*[gr.skip()] * 5, error_html(WAIT_FOR_ANSWER), gr.skip(), gr.skip())
        return ([], [], sources_html([]), None, self.thread_choices(), "",
                gr.update(value=None, visible=False), gr.update(interactive=True, placeholder=ASK_PLACEHOLDER))

    def rename_thread(self, thread_id: str | None, title: str) -> tuple:
        """Give the open thread another title."""
        if not thread_id or not (title or "").strip():
            return gr.skip(), error_html("Open a thread and type its new title.")
        try:
            self.threads.rename(thread_id, title)
        except RagError as exc:
            return gr.skip(), error_html(str(exc))
        return self.thread_choices("", thread_id), ""

    def delete_thread(self, thread_id: str | None) -> tuple:
        """Delete the open thread and start a new one."""
        if thread_id:
            try:
                self.threads.delete(thread_id)
            except RagError as exc:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), error_html(str(exc))
        return [], [], sources_html([]), None, self.thread_choices(), ""

    def documents(self) -> str:
        """The indexed files table (of the live generation, which another process may have written)."""
        self.pipeline.follow_index()
        return documents_html(self.pipeline.index.files.values(), self.settings.collection)

    def document_choices(self) -> dict:
        """The remove dropdown's choices: the indexed sources, none picked."""
        return gr.update(choices=sorted(self.pipeline.index.files), value=None)

    def collection_choices(self) -> dict:
        """The collection dropdown: every collection, the one searched now picked."""
        names = [c.name for c in list_collections(self.settings)]
        return gr.update(choices=names, value=self.settings.collection)

    def add_documents(self, paths: list[str] | None,
                      progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, str, None, dict]:
        """Copy uploaded files (.txt, .md, .html, .pdf, .docx) beside the index, index them, and search them."""
        if not paths:
            return self.documents(), f"Choose {SUPPORTED_NAMES} files to add.", None, gr.skip()
        folder = upload_folder(self.settings)
        folder.mkdir(parents=True, exist_ok=True)
        copied, problems = [], []
        progress(0.0, desc="Copying files")
        for path in map(Path, paths):
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                problems.append(f"{path.name} was not added: only {SUPPORTED_NAMES} files can be.")
                continue
            try:
                shutil.copyfile(path, folder / path.name)
                copied.append(path.name)
            except OSError as exc:
                problems.append(f"{path.name} could not be saved ({exc.strerror}).")
        if copied:
            progress(0.1, desc="Indexing")
            try:
                # The folder joins the library; naming each file brings back one removed before.
                _, skipped = index_paths(self.settings, self.pipeline.encoder,
                                         [folder, *(folder / name for name in copied)], progress=True,
                                         waiting=lambda message: progress(0.1, desc=message),
                                         only_given=True)
                self.pipeline.reload_index()
            except RagError as exc:
                return self.documents(), error_html(str(exc)), None, self.document_choices()
            for s in skipped:  # an unreadable upload is reported and not kept
                if Path(s.path).parent == folder and Path(s.path).name in copied:
                    Path(s.path).unlink(missing_ok=True)
                    copied.remove(Path(s.path).name)
                    problems.append(f"{Path(s.path).name} was not added: it {s.reason}.")
        added = notice_html(f"Added {', '.join(copied)}: searchable now.") if copied else ""
        return (self.documents(), added + (error_html(" ".join(problems)) if problems else ""), None,
                self.document_choices())

    def remove_document(self, source: str | None) -> tuple[str, str, dict]:
        """Remove the picked document from the index (an uploaded copy is deleted too)."""
        if not source:
            return self.documents(), error_html("Pick a document to remove."), gr.skip()
        indexed = self.pipeline.index.files.get(source)
        try:
            remove_documents(self.settings, [source])
            self.pipeline.reload_index()
        except RagError as exc:
            return self.documents(), error_html(str(exc)), self.document_choices()
        if indexed is not None and indexed.path and Path(indexed.path).parent == upload_folder(self.settings):
            Path(indexed.path).unlink(missing_ok=True)  # the page's own copy of an upload
        return (self.documents(), notice_html(f"Removed {source}: answers no longer use it."),
                self.document_choices())

    def switch_collection(self, name: str | None) -> tuple:
        """Search another collection from now on, in every tab of this server; a new name
        starts an empty collection that uploads then fill."""
        name = (name or "").strip()
        if not name or name == self.settings.collection:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            settings = self.settings.for_collection(name)
        except ValueError as exc:
            return gr.skip(), error_html(f"The {exc}."), gr.skip(), self.collection_choices()
        try:
            ensure_index(settings, self.pipeline.encoder, create_empty=True)
            self.pipeline.reload_index(settings)  # the pipeline's settings are the page's
        except RagError as exc:
            return gr.skip(), error_html(str(exc)), gr.skip(), self.collection_choices()
        count = len(self.pipeline.index.files)
        message = (f"Now searching collection '{name}' ({count} documents), in every tab of this server."
                   if count else f"Collection '{name}' is empty: add documents below.")
        return self.documents(), notice_html(message), self.document_choices(), self.collection_choices()

    def load_model(self, path: str) -> str:
        """Swap the LLM for the GGUF at path (or named in `rag models`), for every session of this server."""
        choice = (path or "").strip()
        if self.exposed:
            choice = exposed_model_choice(choice, self.settings.models_dir)
            if choice is None:
                return error_html(MODEL_REFUSED)
        try:
            llm = load_llm(self.settings, choice)
        except RagError as exc:
            return error_html(str(exc))
        self.pipeline.llm = llm
        return notice_html(f"Loaded {llm.name}; it answers every tab of this server from now on.")

    def model_notice(self) -> str:
        """A banner when the page has no working LLM."""
        llm = self.pipeline.llm
        return error_html(f"No language model: {llm.error} Set a model path under Settings.") \
            if isinstance(llm, MissingModel) else ""


def create_app(pipeline: Pipeline, settings: Settings, exposed: bool = False) -> gr.Blocks:
    """The page's layout and events around a loaded pipeline; exposed: other machines can reach it."""
    page = ChatPage(pipeline, exposed)
    where = "a .gguf file in the models folder" if exposed else "a GGUF path on this machine"
    with gr.Blocks(title="Chat with your documents", analytics_enabled=False) as app:
        turns = gr.State([])
        thread = gr.State(None)  # this tab's saved thread (rag.threads), once it has an answer
        notice = gr.HTML()
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=220, elem_id="rag-threads"):
                gr.Markdown("### Conversations")
                new_chat = gr.Button("New conversation", elem_id="rag-new-thread")
                search = gr.Textbox(show_label=False, placeholder="Search conversations",
                                    elem_id="rag-thread-search")
                thread_list = gr.Radio([], show_label=False, elem_id="rag-thread-list")
                export = gr.Button("Export as Markdown", elem_id="rag-thread-export")
                exported = gr.File(label="Conversation, with its sources", interactive=False,
                                   visible=False, elem_id="rag-thread-file")
                with gr.Accordion("Rename or delete", open=False):
                    title = gr.Textbox(show_label=False, placeholder="New title", elem_id="rag-thread-title")
                    rename = gr.Button("Rename", elem_id="rag-thread-rename")
                    delete = gr.Button("Delete conversation", variant="stop", elem_id="rag-thread-delete")
                history_status = gr.HTML(js_on_load=None, elem_id="rag-history-status")
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat", elem_id="rag-chat", height=560, render_markdown=False,
                    sanitize_html=True, allow_tags=False, feedback_options=None, buttons=["copy"],
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder="Ask about the indexed documents, or pick an example.")
                with gr.Row():
                    question = gr.Textbox(elem_id="rag-question", show_label=False, scale=5,
                                          placeholder=ASK_PLACEHOLDER, max_lines=4)
                    send = gr.Button("Ask", variant="primary", scale=0, min_width=80)
                    stop = gr.Button("Stop", variant="stop", scale=0, min_width=80, elem_id="rag-stop")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html([]), elem_id="rag-sources", js_on_load=None)
        with gr.Accordion("Documents", open=False, elem_id="rag-documents"):
            collection = gr.Dropdown(
                [settings.collection], value=settings.collection, label="Collection",
                allow_custom_value=True, elem_id="rag-collection",
                info="Which documents answers come from, for every tab of this server. "
                     "Type a new name (letters, digits, - and _) to start an empty collection.")
            docs = gr.HTML(page.documents(), js_on_load=None)
            with gr.Row():
                remove_pick = gr.Dropdown([], label="Remove a document", scale=4, elem_id="rag-remove-pick")
                remove = gr.Button("Remove", variant="stop", scale=1, elem_id="rag-remove")
            upload = gr.File(label=f"Add {SUPPORTED_NAMES} files", file_count="multiple",
                             file_types=list(SUPPORTED_SUFFIXES), elem_id="rag-upload")
            add = gr.Button("Add to index", elem_id="rag-add")
            upload_status = gr.HTML(js_on_load=None, elem_id="rag-upload-status")
        with gr.Accordion("Settings", open=False, elem_id="rag-settings"):
            k = gr.Slider(1, max(20, settings.k), value=settings.k, step=1, label="Passages to retrieve",
                          info=f"Default {Settings.model_fields['k'].default}.")
            temperature = gr.Slider(0.0, 2.0, value=settings.temperature, step=0.05, label="Temperature",
                                    info="Default 0 (the same answer every time).")
            max_tokens = gr.Slider(16, max(1024, settings.max_tokens), value=settings.max_tokens, step=16,
                                   label="Longest answer, in tokens",
                                   info=f"Default {Settings.model_fields['max_tokens'].default}.")
            model = gr.Textbox(settings.model, label=f"Model (a name from `rag models`, or {where})",
                               elem_id="rag-model",
                               info=f"Default: the standard model, {STANDARD}")
            load = gr.Button("Load model")
            model_status = gr.HTML(js_on_load=None)

        ask_io = dict(outputs=[question, turns, chatbot, sources], show_progress="minimal")
        asked = gr.on([question.submit, send.click], page.start, [question, turns], queue=False, **ask_io)
        picked = chatbot.example_select(pick_example, None, question, queue=False).then(
            page.start, [question, turns], queue=False, **ask_io)
        for event in (asked, picked):
            event.then(page.answer, [turns, k, temperature, max_tokens],
                       concurrency_id="llm", concurrency_limit=1, **ask_io).then(
                page.save_turn, [turns, thread], [thread, thread_list, history_status], queue=False)
        stop.click(page.stop, turns, [turns, chatbot], queue=False)
        chatbot.clear(lambda: ([], sources_html([]), None), None, [turns, sources, thread], queue=False)
        hide_export = gr.update(value=None, visible=False)
        thread_list.input(page.open_thread, [thread_list, turns],
                          [turns, chatbot, sources, thread, history_status, question],
                          queue=False).then(lambda: hide_export, None, exported, queue=False)
        search.change(page.thread_choices, [search, thread], thread_list, queue=False)
        new_chat.click(page.new_thread, turns,
                       [turns, chatbot, sources, thread, thread_list, history_status, exported, question],
                       queue=False)
        rename.click(page.rename_thread, [thread, title], [thread_list, history_status], queue=False)
        export.click(page.export_thread, thread, [exported, history_status], queue=False)
        delete.click(page.delete_thread, thread,
                     [turns, chatbot, sources, thread, thread_list, history_status], queue=False)
        add.click(page.add_documents, upload, [docs, upload_status, upload, remove_pick],
                  show_progress_on=docs, concurrency_id="index", concurrency_limit=1)
        remove.click(page.remove_document, remove_pick, [docs, upload_status, remove_pick],
                     concurrency_id="index", concurrency_limit=1)
        collection.input(page.switch_collection, collection, [docs, upload_status, remove_pick, collection],
                         concurrency_id="index", concurrency_limit=1)
        load.click(page.load_model, model, model_status, concurrency_id="llm", concurrency_limit=1)
        app.load(lambda: (page.documents(), page.model_notice(), page.document_choices(),
                          page.collection_choices(), *page.history()), None,
                 [docs, notice, remove_pick, collection, thread_list, history_status])
    return app


def pick_example(evt: gr.SelectData) -> str:
    """The text of the example question clicked."""
    return evt.value["text"]


def warm_up(pipeline: Pipeline) -> None:
    """Pipeline.warm_up, logging rather than raising: the page serves either way."""
    try:
        pipeline.warm_up()
    except RagError as exc:
        log.warning("warm-up skipped: %s", exc)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          no_key: bool = False) -> None:
    """Load the models and index, then serve the page and the HTTP API (ui.api, at /v1) until
    interrupted; beyond this machine only with RAG_API_KEY set, or no_key."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    warning = check_exposure(settings, host, share, no_key)
    if warning:
        log.warning("%s", warning)
    try:
        llm = load_llm(settings)
    except ModelError as exc:  # start anyway: the page says what is wrong and how to fix it
        log.warning("%s", exc)
        llm = MissingModel(exc, settings.n_ctx)
    pipeline = build_pipeline(settings, llm=llm)
    # Before the page starts, so the first question is as fast as the later ones.
    warm_up(pipeline)
    launch(create_app(pipeline, settings, exposed=is_exposed(host, share)), pipeline, settings,
           host=host, port=port, share=share)


def launch(app: gr.Blocks, pipeline: Pipeline, settings: Settings, host: str = "127.0.0.1",
           port: int = 7860, share: bool = False, block: bool = True) -> gr.Blocks:
    """Serve the page and the HTTP API of pipeline; with RAG_API_KEY set, both need the key
    (ui.access). Returns when the server stops, or at once when block is False."""
    app.queue(default_concurrency_limit=1)
    key = settings.api_key.get_secret_value()
    login = dict(auth=key_login(key), auth_message=LOGIN_MESSAGE) if key else {}
    # The API is its own FastAPI app, mounted ahead of Gradio's routes in the app launch() makes,
    # so the page keeps every launch option and the API keeps its own error handlers and schema.
    # That app's own FastAPI schema (/openapi.json) documents gradio's internals: nobody needs it.
    api = Mount(API_PREFIX, app=create_api(pipeline, settings))
    app.launch(server_name=host, server_port=port, share=share, show_error=True,
               css=CSS, js=KEYS, theme=gr.themes.Default(), ssr_mode=False, mcp_server=False,
               pwa=False, footer_links=["api"], quiet=True, prevent_thread_lock=not block,
               app_kwargs={"routes": [health_route(pipeline), api], "openapi_url": None,
                           "middleware": [Middleware(LoginRequired)] if key else []}, **login)
    return app
