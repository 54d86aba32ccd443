"""The `rag` command: index, docs, collections, ask, eval, serve. Errors become one-line messages here."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rag.errors import InputError, RagError
from rag.settings import DEFAULT_COLLECTION, Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Ask questions about a folder of articles, answered offline with cited sources.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

IndexDir = Annotated[Optional[Path], typer.Option("--index-dir", help="The default collection's index folder (default: RAG_INDEX_DIR or ~/.local/share/rag/index).")]
Collection = Annotated[Optional[str], typer.Option("--collection", "-c", help="Which collection (independent index) to use: letters, digits, - and _ (default: RAG_COLLECTION or 'default').")]
K = Annotated[Optional[int], typer.Option("--k", min=1, max=50, help="Passages to retrieve (default 5).")]
Model = Annotated[Optional[str], typer.Option("--model", help="The LLM: a name from `rag models` or the path of a GGUF chat model (default: the standard model).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
LlmUrl = Annotated[Optional[str], typer.Option("--llm-url", help="Base URL of an OpenAI-compatible LLM server (e.g. http://127.0.0.1:8080/v1) to answer instead of the GGUF model; see models.md.")]


def settings_from(**flags) -> Settings:
    """Settings from flags given, then RAG_* environment variables, then defaults."""
    if flags.get("index_dir") and flags.get("collection") not in (None, DEFAULT_COLLECTION):
        raise RagError("--index-dir sets the default collection's index folder: leave it out to use "
                       "--collection, whose index lives in the data folder (RAG_DATA_DIR).")
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
        if flags.get("index_dir") and settings.store == "milvus":
            raise RagError("--index-dir names a folder index, but with RAG_STORE=milvus the index "
                           "lives in Milvus: use --collection NAME for a separate one.")
        return settings
    except ValueError as exc:  # pydantic's ValidationError
        errors = getattr(exc, "errors", lambda: [])()
        if errors:  # the first problem, said plainly: "Bad setting collection: ..."
            where = ".".join(str(part) for part in errors[0]["loc"])
            message = errors[0]["msg"].removeprefix("Value error, ")
            raise RagError(f"Bad setting {where}: {message} — check your RAG_* variables and flags.") from exc
        raise RagError(f"Bad setting: {exc}".splitlines()[0] + " — check your RAG_* variables and flags.") from exc


def with_model_file(settings: Settings) -> Settings:
    """The settings with the LLM as a file: a model named in `rag models` is joined and verified
    first (once; a progress bar shows it), see rag.models."""
    if settings.llm_url:
        return settings
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from rag.models import resolve_model

    with Progress(TextColumn("joining and verifying the model"), BarColumn(), DownloadColumn(),
                  console=err, transient=True) as bar:
        task = None

        def progress(done: int, total: int) -> None:
            nonlocal task
            task = bar.add_task("join", total=total) if task is None else task
            bar.update(task, completed=done)

        path = resolve_model(settings.model, settings.models_dir, progress)
    return settings.model_copy(update={"model": path})


def say_waiting(message: str) -> None:
    """Tell the user a write waits for another process's (rag.index.writing)."""
    err.print(message, highlight=False, markup=False)


def user_errors(fn: Callable) -> Callable:
    """Turn RagError (and Ctrl-C) into a one-line message and exit code 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RagError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, markup=True)
            raise typer.Exit(2)
        except KeyboardInterrupt:
            err.print("interrupted; the previous index (if any) is unchanged.")
            raise typer.Exit(130)
    return wrapper


def print_version(value: bool) -> None:
    """--version: the app's and the key libraries' versions, then exit."""
    if value:
        from rag.versions import library_versions

        for name, version in library_versions().items():
            out.print(f"{name} {version}", highlight=False, markup=False)
        raise typer.Exit()


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
         version: Annotated[bool, typer.Option("--version", callback=print_version, is_eager=True,
                                               help="Print the versions of the app and its key libraries.")] = False) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # Libraries' own warnings (pypdf's about a damaged PDF, say) are details: the app reports
    # what they mean once, as a skipped file or a page left out.
    for noisy in ("sentence_transformers", "transformers", "httpx", "bm25s", "pypdf"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


@app.command()
@user_errors
def index(paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders to add (default: sync the ones already indexed; an empty default collection gets the bundled seeds).")] = None,
          index_dir: IndexDir = None, collection: Collection = None,
          replace: Annotated[bool, typer.Option("--replace", help="Make the index hold exactly PATHS, forgetting the other folders and removed files.")] = False) -> None:
    """Add files and folders of articles (.txt, .md, .html, .pdf, .docx) to the index and sync it.

    Every sync reads all indexed folders again: new files are added, changed ones are
    embedded again (only their new passages), and files deleted on disk drop out. Files
    removed with `rag docs remove` stay out. Nothing is written when nothing changed.
    """
    from rag.pipeline import LazyEncoder, index_paths

    settings = settings_from(index_dir=index_dir, collection=collection)
    if replace and not paths:
        raise RagError("--replace needs the files or folders the index should hold.")
    encoder = LazyEncoder(settings)  # loaded only if something needs embedding
    report, skipped = index_paths(settings, encoder, paths, progress=sys.stderr.isatty(), replace=replace,
                                  waiting=say_waiting)
    for s in skipped:
        err.print(f"[yellow]skipped[/yellow] {escape(f'{s.path}: {s.reason}')}", highlight=False)
    changes = (f"{report.added} added, {report.changed} changed, {report.removed} removed"
               if report.written else "nothing changed")
    out.print(f"Indexed {report.files} files into {report.chunks} chunks "
              f"({report.embedded} embedded, {report.chunks - report.embedded} reused) "
              f"in {report.seconds:.1f} s → {settings.index_location} ({changes})", highlight=False, markup=False)


docs_app = typer.Typer(no_args_is_help=True, help="List or remove the documents of a collection.")
app.add_typer(docs_app, name="docs")


@docs_app.command("list")
@user_errors
def docs_list(collection: Collection = None, index_dir: IndexDir = None, json_out: AsJson = False) -> None:
    """The indexed documents: source, title, passages, size (and pages of a PDF)."""
    from rag.library import describe_library, size_text

    settings = settings_from(index_dir=index_dir, collection=collection)
    files, roots, excluded = describe_library(settings)
    if json_out:
        print(json.dumps({"collection": settings.collection, "index_dir": str(settings.index_location),
                          "documents": [asdict(f) for f in files], "roots": roots,
                          "excluded": excluded}, ensure_ascii=False))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("Source", "Title", "Passages", "Size", "Pages"):
        table.add_column(name, justify="right" if name in ("Passages", "Size", "Pages") else "left")
    for f in files:
        table.add_row(f.source, f.title, str(f.chunks), size_text(f.size),
                      str(f.pages) if f.pages else "")
    console = out if out.is_terminal else Console(width=200)  # a pipe gets whole lines
    console.print(f"{len(files)} documents in collection '{settings.collection}' ({settings.index_location})",
                  highlight=False, markup=False)
    if files:
        console.print(table, highlight=False, markup=False)
    for title, paths in (("Synced from:", roots), ("Removed, kept out of syncs:", excluded)):
        if paths:
            console.print(title, style="bold", highlight=False)
            for path in paths:
                console.print(f"  {path}", highlight=False, markup=False)


@docs_app.command("remove")
@user_errors
def docs_remove(targets: Annotated[list[str], typer.Argument(help="Sources as `rag docs list` shows them, or paths of files or indexed folders.", metavar="SOURCE_OR_PATH")],
                collection: Collection = None, index_dir: IndexDir = None) -> None:
    """Remove documents from the index (the files on disk are not touched).

    A removed file stays out of later `rag index` syncs for as long as it exists; name
    the file itself (`rag index path/to/file.txt`) to bring it back. Removing a folder
    you indexed (or a file you indexed by itself) takes it out of the index entirely,
    so a sync does not look there any more.
    """
    from rag.library import remove_documents

    settings = settings_from(index_dir=index_dir, collection=collection)
    for f in remove_documents(settings, targets, waiting=say_waiting):
        out.print(f"Removed {f.source} ({f.chunks} passages) from collection '{settings.collection}'.",
                  highlight=False, markup=False)


threads_app = typer.Typer(no_args_is_help=True, help="The saved conversations of the page: list or export them.")
app.add_typer(threads_app, name="threads")


@threads_app.command("list")
@user_errors
def threads_list(search: Annotated[str, typer.Option("--search", help="Only threads whose title or questions hold this.")] = "",
                 json_out: AsJson = False) -> None:
    """The saved threads, newest first: id, questions, collection, title."""
    from datetime import datetime

    from rag.threads import ThreadStore, threads_path

    settings = settings_from()
    found = ThreadStore(threads_path(settings.data_dir)).list(search)
    if json_out:
        print(json.dumps([asdict(t) for t in found], ensure_ascii=False))
        return
    if not found:
        out.print("No saved threads yet: they are saved as you ask on the page (`rag serve`).",
                  highlight=False, markup=False)
    for t in found:
        when = datetime.fromtimestamp(t.updated).strftime("%Y-%m-%d %H:%M")
        out.print(f"{t.id}  {when}  {t.turns:3} questions  {t.collection:12} {t.title}",
                  highlight=False, markup=False)


@threads_app.command("export")
@user_errors
def threads_export(thread_id: Annotated[str, typer.Argument(help="The thread's id, as `rag threads list` shows it.", metavar="ID")],
                   output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of printing.")] = None) -> None:
    """A thread as Markdown: each answer with its numbered citations and the quoted spans."""
    from rag.threads import ThreadStore, export_markdown, threads_path

    settings = settings_from()
    thread = ThreadStore(threads_path(settings.data_dir)).get(thread_id)
    from rag.library import indexed_hashes

    text = export_markdown(thread, indexed_hashes(settings, thread.summary.collection))
    if output is None:
        print(text, end="")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RagError(f"Cannot write {output} ({exc.strerror}): give another --output path.") from exc
    err.print(f"Wrote {output}", highlight=False, markup=False)


@app.command("collections")
@user_errors
def collections_cmd(json_out: AsJson = False) -> None:
    """List the collections (independent indexes): documents, passages, index folder."""
    from rag.library import list_collections

    settings = settings_from()
    found = list_collections(settings)
    if json_out:
        print(json.dumps([{"name": c.name, "documents": c.documents, "passages": c.passages,
                           "index_dir": str(c.index_dir), "current": c.name == settings.collection}
                          for c in found], ensure_ascii=False))
        return
    for c in found:
        mark = "*" if c.name == settings.collection else " "
        size = "not indexed yet" if c.documents is None else f"{c.documents} documents, {c.passages} passages"
        out.print(f"{mark} {c.name:20} {size:32} {c.index_dir}", highlight=False, markup=False)


@app.command("models")
@user_errors
def models_cmd(json_out: AsJson = False) -> None:
    """The LLMs the app can use offline: name, size, licence, where from, and whether verified."""
    from rag.models import CATALOGUE, STANDARD, model_status

    settings = settings_from()
    rows = [model_status(m, settings.models_dir) for m in CATALOGUE]
    if json_out:
        print(json.dumps([{"name": r.spec.name, "title": r.spec.title, "standard": r.spec.name == STANDARD,
                           "size": r.size,
                           "licence": r.spec.licence, "origin": r.spec.origin, "state": r.state,
                           "path": str(r.path) if r.path else None} for r in rows], ensure_ascii=False))
        return
    from rag.library import size_text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("Name", "Model", "Size", "Licence", "State", "From"):
        table.add_column(name, justify="right" if name == "Size" else "left")
    for r in rows:
        name = r.spec.name + (" (standard)" if r.spec.name == STANDARD else "")
        table.add_row(name, r.spec.title, size_text(r.size) if r.size else "", r.spec.licence, r.state,
                      r.spec.origin)
    (out if out.is_terminal else Console(width=200)).print(table, highlight=False, markup=False)
    out.print("verified: joined and sha256-checked; to join: done on first use; any GGUF path also "
              "works with --model, and a server with --llm-url (models.md).", highlight=False, markup=False)


def also_text(also: tuple[str, ...], shown: int = 3) -> str:
    """" (also in a.txt, b.txt and 4 more files)" for a passage that copies hold too."""
    if not also:
        return ""
    more = f" and {len(also) - shown} more files" if len(also) > shown else ""
    return f" (also in {', '.join(also[:shown])}{more})"


def print_answer(answer) -> None:
    """The answer, then its numbered sources."""
    out.print(answer.text, highlight=False, markup=False)
    if answer.citations:
        out.print("\nSources:", style="bold")
        for c in answer.citations:
            where = f"page {c.page}, chars" if c.page is not None else "chars"
            out.print(f"[{c.n}] {c.source} ({where} {c.start}-{c.end}): “{c.quote}”{also_text(c.also)}",
                      highlight=False, markup=False)
    elif answer.hits:
        out.print("\nClosest passages searched:", style="bold")
        for n, h in enumerate(answer.hits[:3], start=1):
            page = f", page {h.chunk.page}" if h.chunk.page is not None else ""
            out.print(f"[{n}] {h.chunk.source}{page}: {h.chunk.text[:160]}…", highlight=False, markup=False)


@app.command()
@user_errors
def ask(question: Annotated[str, typer.Argument(help="The question, in quotes.")],
        index_dir: IndexDir = None, k: K = None, model: Model = None, json_out: AsJson = False,
        llm_url: LlmUrl = None, collection: Collection = None) -> None:
    """Answer one question with cited sources (builds the default index if none exists)."""
    from rag.pipeline import Final, Token, build_pipeline, clean_question

    clean_question(question)  # fail fast, before loading models
    settings = with_model_file(settings_from(index_dir=index_dir, k=k, model=model, llm_url=llm_url,
                                             collection=collection))
    pipeline = build_pipeline(settings)
    answer = None
    streaming = not json_out and out.is_terminal
    for event in pipeline.ask_stream(question, settings.k):
        if isinstance(event, Token) and streaming:
            out.print(event.text, end="", style="dim", highlight=False, markup=False)
        elif isinstance(event, Final):
            answer = event.answer
    if json_out:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
        return
    if streaming:
        out.print("\n[dim]— checked against the sources:[/dim]")
    print_answer(answer)


@app.command("eval")
@user_errors
def eval_cmd(questions: Annotated[Path, typer.Argument(help="A .jsonl question set (shared/eval format).")],
             index_dir: IndexDir = None, k: K = None, model: Model = None, json_out: AsJson = False,
             llm_url: LlmUrl = None, collection: Collection = None,
             retrieval: Annotated[Optional[str], typer.Option("--retrieval", help="hybrid (default), rrf, dense or lexical: to compare retrieval.")] = None) -> None:
    """Run a question set and print the quality metrics."""
    from rag.evaluate import load_questions, run_eval
    from rag.pipeline import build_pipeline
    from rag.versions import library_versions

    items = load_questions(questions)
    settings = with_model_file(settings_from(index_dir=index_dir, k=k, model=model, retrieval=retrieval,
                                             llm_url=llm_url, collection=collection))
    pipeline = build_pipeline(settings)

    def progress(q, a) -> None:
        if not json_out:
            mark = "refused" if a.refused else "answered"
            err.print(f"{q['id']}: {mark} in {a.timings_ms['total'] / 1000:.1f} s", highlight=False, markup=False)

    metrics, results = run_eval(items, lambda q: pipeline.ask(q, settings.k), progress)
    metrics = {"llm": pipeline.llm.name, "embedder": pipeline.encoder.name,
               "judge": f"the LLM's verdict, P(YES) >= {settings.answer_threshold}, and asked again, "
                        f"averaged (a quote: alone) >= {settings.check_threshold}", "k": settings.k,
               "retrieval": settings.retrieval, "answer_threshold": settings.answer_threshold,
               "check_threshold": settings.check_threshold, **metrics}
    if json_out:
        print(json.dumps({"metrics": metrics, "versions": library_versions(), "results": results},
                         ensure_ascii=False))
    else:
        for name, value in metrics.items():
            out.print(f"{name:26} {value}", highlight=False)


@app.command()
@user_errors
def serve(host: Annotated[str, typer.Option("--host", help="Address to listen on; the default serves this machine only.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port for the page and the API.")] = 7860,
          index_dir: IndexDir = None, model: Model = None, llm_url: LlmUrl = None,
          collection: Collection = None,
          share: Annotated[bool, typer.Option("--share", help="Also open a public gradio.live link (sends traffic off this machine).")] = False,
          no_key: Annotated[bool, typer.Option("--no-key", help="Serve beyond this machine without RAG_API_KEY: anyone who can reach it can use the page and the API (a trusted network only).")] = False) -> None:
    """Open the chat page (and its API) at http://HOST:PORT; beyond this machine, log in with RAG_API_KEY."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from ui.access import check_exposure
    from ui.app import serve as serve_app

    settings = settings_from(index_dir=index_dir, model=model, llm_url=llm_url, collection=collection)
    check_exposure(settings, host, share, no_key)  # refused before a model is joined; serve_app warns
    settings = with_model_file(settings)
    err.print(f"Loading models and the index, then serving on http://{host}:{port} …", highlight=False,
              markup=False)
    serve_app(settings, host=host, port=port, share=share, no_key=no_key)


@app.command()
@user_errors
def bench(json_out: AsJson = False,
          questions: Annotated[Optional[Path], typer.Option("--questions", help="Question set (.jsonl) for the answer timings (default: ../shared/eval/dev.jsonl, else tests/data/extra_questions.jsonl).")] = None,
          chunks: Annotated[int, typer.Option("--chunks", min=100, help="Chunks in the generated indexing corpus.")] = 5000,
          sizes: Annotated[str, typer.Option("--sizes", help="Extra retrieval sizes (synthetic vectors), comma-separated.")] = "100000,1000000",
          store: Annotated[str, typer.Option("--store", help="milvus: also measure the Milvus backend's retrieval beside FAISS (RAG_MILVUS_URI's server, else Milvus Lite in a temporary file), and adding 10,000 passages at the largest size.")] = "faiss",
          only: Annotated[str, typer.Option("--only", help="Run only these sections, comma-separated: retrieval, answers, serving (indexing always runs: the others use its corpus).")] = "") -> None:
    """Measure indexing, retrieval, answering, memory and start-up against the raw libraries (a few minutes)."""
    from rag.bench import report_table, run_bench

    if store not in ("faiss", "milvus"):
        raise InputError(f"--store must be faiss or milvus, not {store!r}.")
    sections = [s.strip() for s in only.split(",") if s.strip()]
    if set(sections) - {"retrieval", "answers", "serving"}:
        raise InputError("--only takes retrieval, answers and serving, comma-separated.")
    settings = with_model_file(settings_from())
    say = lambda message: err.print(f"[dim]{message}[/dim]", highlight=False)  # noqa: E731
    report = run_bench(settings, questions, chunks, [int(s) for s in sizes.split(",") if s.strip()], say,
                       store, sections)
    if json_out:
        print(json.dumps(report, ensure_ascii=False))
    else:
        # A terminal wraps the table to fit; a file or pipe gets it whole.
        (out if out.is_terminal else Console(width=160)).print(report_table(report))
