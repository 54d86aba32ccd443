"""Build the chat prompt: a compact fixed instruction, then numbered passages.

The instruction comes first and never changes, so llama.cpp's KV cache reuses
it across questions. On a laptop CPU the first answer token waits for every
prompt token to be evaluated (about 280 tokens/s for the bundled model on two
cores), so the model is shown excerpts rather than whole passages: the
sentences that best answer the question, up to a token budget, under their
passage's number and title. The answer is then verified against the whole
passages, so nothing is lost for citations. Passages are added in rank order
until the context budget (context size minus the answer's max tokens) is
spent; the last one that does not fit whole is cut at a word boundary rather
than overflowing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.errors import ContextOverflowError
from rag.schema import Hit

# The reply's first word is the model's verdict on whether the passages answer (its
# probability is read from the first token's logits, see rag.generate.Verdict).
SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages. Begin your reply with YES if the "
    "passages state the answer to the question, or NO if they do not. After YES, give the answer, "
    "every part the question asks for, in one or two short sentences, citing passage numbers like [1]."
)
# Tokens the chat template adds around each message (role markers, separators).
TEMPLATE_OVERHEAD = 24

# The least room for passages worth keeping the examples for; a smaller context drops them.
MIN_PASSAGE_TOKENS = 256
# Worked examples shown before every question, as earlier turns of the chat: invented texts,
# none from a question set. Half are on-topic questions the passage does not answer, where it
# gives a fact of the same kind (an adult price for a child's, a start for an end). They never
# change, so they are read once per process and reused from the KV cache with the instruction.
EXAMPLES = (
    ("[1] (Kettle KX-2: user guide) The KX-2 holds 1.7 litres. It switches itself off 30 seconds "
     "after the water boils.", "How much water does the KX-2 hold?",
     "YES. The KX-2 holds 1.7 litres [1]."),
    ("[1] (Riverside Pool) Adult tickets cost £5.20. The pool opens at 6:30 on weekdays.",
     "How much is a child's ticket at Riverside Pool?",
     "NO. The passages give the adult price, not a child's."),
    ("[1] (Letter from Dr Osei) Your next appointment is on Tuesday 14 May at 10:15. Please bring "
     "your inhaler and a list of your medicines.", "what do I need to take with me to the appointment",
     "YES. Bring your inhaler and a list of your medicines [1]."),
    ("[1] (Canal Museum) Entry costs £6 for adults. The museum is open from 10:00 to 16:00, Tuesday "
     "to Sunday.\n[2] (Canal Museum: group visits) Groups of ten or more must book two weeks ahead.",
     "How much is adult entry to the Canal Museum, and how far ahead must a group book?",
     "YES. Adult entry is £6 [1], and groups must book two weeks ahead [2]."),
    ("[1] (Harbour Bridge repairs) Work on the bridge began on 3 March 2021. The county council "
     "paid for the repairs.", "When were the bridge repairs finished?",
     "NO. The passages say when the work began, not when it finished."),
    ("[1] (Chess club minutes) Maria Lindqvist was elected treasurer. The secretary, Tom Price, will "
     "step down in June.", "Who was elected secretary of the chess club?",
     "NO. The passages name the new treasurer, not a new secretary."),
)

# The judge asked again, after the answer is written and verified, shown only the sentences it
# cites: a narrow view in which a near miss (the adult price cited for a child's) reads as one.
# Its examples use the texts of EXAMPLES above (invented; none from a question set).
CHECK_PROMPT = (
    "You check whether a source text answers a question. Reply YES if the text states the exact "
    "thing the question asks for. Reply NO if it gives only a related fact: another day, year, "
    "person, group, item, measure or figure than the one asked about."
)
CHECK_EXAMPLES = (
    ("(Riverside Pool) Adult tickets cost £5.20.", "How much is a child's ticket at Riverside Pool?", "NO."),
    ("(Harbour Bridge repairs) Work on the bridge began on 3 March 2021.", "When did the bridge repairs start?",
     "YES."),
    ("(Chess club minutes) Maria Lindqvist was elected treasurer.", "Who was elected secretary of the chess club?",
     "NO."),
    ("(Kettle KX-2: user guide) The KX-2 holds 1.7 litres.", "kx-2 capacity", "YES."),
)


@dataclass(frozen=True)
class Prompt:
    """The messages for the model and which passages they show."""

    messages: list[dict[str, str]]
    shown: tuple[int, ...]  # numbers of the passages in the prompt (hits[n - 1])


def select_excerpts(hits: list[Hit], ranked: list[tuple[int, int, float]], budget: int,
                    count_tokens: Callable[[str], int]) -> dict[int, str]:
    """Passage number -> its best-answering sentences, in text order, within budget tokens.

    `ranked` is (passage number, sentence index, score), best first (rag.ranking.rank_sentences).
    Sentences are taken in rank order while they fit; the first always is. Sentences
    of one passage that are not next to each other are joined by an ellipsis.
    """
    chosen: dict[int, list[int]] = {}
    used = 0
    for n, i, _ in ranked:
        hit = hits[n - 1]
        cost = count_tokens(hit.chunk.sentence(i)) + 1
        if n not in chosen:
            cost += count_tokens(format_passage(n, hit, ""))
        if chosen and used + cost > budget:
            break
        chosen.setdefault(n, []).append(i)
        used += cost
    excerpts = {}
    for n, picked in chosen.items():
        chunk, parts, last = hits[n - 1].chunk, [], None
        for i in sorted(picked):
            if last is not None and i != last + 1:
                parts.append("…")
            parts.append(chunk.sentence(i))
            last = i
        excerpts[n] = " ".join(parts)
    return excerpts


def format_passage(n: int, hit: Hit, text: str) -> str:
    """One numbered passage as the model sees it."""
    return f"[{n}] ({hit.chunk.title}) {text}"


def _cut_to_budget(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """The longest prefix of text, cut between words, that fits in budget tokens."""
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # binary search on the number of words kept
        mid = (lo + hi + 1) // 2
        if count_tokens(" ".join(words[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + (" …" if 0 < lo < len(words) else "")


def build_prompt(question: str, hits: list[Hit], n_ctx: int, max_tokens: int,
                 count_tokens: Callable[[str], int], excerpts: dict[int, str] | None = None) -> Prompt:
    """Messages that fit in n_ctx with room for max_tokens of answer.

    With `excerpts` (see select_excerpts), passage n shows excerpts[n] and passages
    without one are left out, keeping their numbers; otherwise each shows its whole text.
    """
    for head in (fixed_messages(EXAMPLES), fixed_messages(())):  # no examples in a small context
        fixed = (sum(count_tokens(m["content"]) for m in head) + (len(head) + 1) * TEMPLATE_OVERHEAD
                 + count_tokens(f"Question: {question}\nPassages:\n"))
        budget = n_ctx - max_tokens - fixed
        if budget >= MIN_PASSAGE_TOKENS:
            break
    if budget < 32:
        raise ContextOverflowError(
            f"The question is too long for the model's {n_ctx}-token context "
            f"(about {fixed - (len(head) + 1) * TEMPLATE_OVERHEAD} tokens with the instructions): "
            "shorten it.")
    shown: list[int] = []
    lines: list[str] = []
    for n, hit in enumerate(hits, start=1):
        text = hit.chunk.text if excerpts is None else excerpts.get(n)
        if not text:
            continue
        line = format_passage(n, hit, text)
        cost = count_tokens(line) + 1
        if cost > budget:
            header = count_tokens(format_passage(n, hit, ""))
            text = _cut_to_budget(text, budget - header - 1, count_tokens)
            if len(text.split()) < 8:
                break  # a passage cut to a few words only adds noise
            line, cost = format_passage(n, hit, text), budget
        shown.append(n)
        lines.append(line)
        budget -= cost
        if budget <= 0:
            break
    return Prompt(head + [{"role": "user", "content": user_turn("\n".join(lines), question)}], tuple(shown))


def check_messages(question: str, cited: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The judge asked again, about an answer: the question and only the sentences the answer
    rests on, each (title, sentence), under an instruction and worked examples of their own."""
    text = "\n".join(f"({title}) {sentence}" for title, sentence in cited)
    return fixed_check_messages() + [{"role": "user", "content": check_turn(text, question)}]


def check_turn(text: str, question: str) -> str:
    """What the user turn of a check says."""
    return f"Text: {text}\nQuestion: {question}\nDoes the text answer it?"


def fixed_check_messages() -> list[dict[str, str]]:
    """The messages every check begins with: its instruction, then its worked examples."""
    messages = [{"role": "system", "content": CHECK_PROMPT}]
    for text, question, reply in CHECK_EXAMPLES:
        messages += [{"role": "user", "content": check_turn(text, question)},
                     {"role": "assistant", "content": reply}]
    return messages


def user_turn(passages: str, question: str) -> str:
    """What the user turn says: the numbered passages, then the question."""
    return f"Passages:\n{passages}\n\nQuestion: {question}"


def fixed_messages(examples: tuple[tuple[str, str, str], ...]) -> list[dict[str, str]]:
    """The messages every prompt begins with: the instruction, then the worked examples."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for passages, question, reply in examples:
        messages += [{"role": "user", "content": user_turn(passages, question)},
                     {"role": "assistant", "content": reply}]
    return messages
