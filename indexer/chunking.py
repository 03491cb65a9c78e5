"""Pure functions: text -> chunks with character spans, sized in the model's own tokens.

Chunks never exceed the token budget (text past the model's limit would be silently cut off),
overlap by whole sentences where they can, and cut at sentence ends for English and Chinese
punctuation alike. A sentence longer than the budget is split at whitespace, or between
characters for scripts without spaces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Returns the number of model tokens of each text, special tokens included."""

# A sentence ends after ., !, ? (Latin, followed by space) or after 。！？；… (CJK, no space
# needed), or at a line break. Closing quotes/brackets stay with their sentence.
_SENTENCE_END = re.compile(r"(?:[.!?]+[\"'”’)\]]*(?=\s))|(?:[。！？；…]+[」』”’）)]*)|(?:\n\s*)")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[Span]:
    """Character spans of sentences, whitespace trimmed, empty ones dropped."""
    spans: list[Span] = []
    position = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append(Span(position, match.end()))
        position = match.end()
    spans.append(Span(position, len(text)))
    trimmed = []
    for span in spans:
        piece = text[span.start : span.end]
        stripped = piece.strip()
        if stripped:
            start = span.start + (len(piece) - len(piece.lstrip()))
            trimmed.append(Span(start, start + len(stripped)))
    return trimmed


def _split_point(text: str, span: Span) -> int:
    """A cut near the middle of a span: whitespace if there is some, else between characters."""
    middle = (span.start + span.end) // 2
    window = text[span.start : span.end]
    spaces = [m.start() + span.start for m in re.finditer(r"\s+", window)]
    if spaces:
        return min(spaces, key=lambda p: abs(p - middle))
    return middle


def _fit_spans(
    text: str, spans: list[Span], counts: list[int], budget: int, count: TokenCounter, overhead: int
) -> tuple[list[Span], list[int]]:
    """Bisect any span whose token count is over budget until every piece fits."""
    out_spans: list[Span] = []
    out_counts: list[int] = []
    pending = list(zip(spans, counts, strict=True))[::-1]
    while pending:
        span, tokens = pending.pop()
        if tokens <= budget or span.end - span.start <= 1:
            out_spans.append(span)
            out_counts.append(tokens)
            continue
        cut = _split_point(text, span)
        halves = [s for s in (Span(span.start, cut), Span(cut, span.end)) if s.end > s.start]
        halves = [h for piece in halves for h in sentence_spans_in(text, piece)]
        if len(halves) < 2:  # cannot split further (e.g. one giant token); keep, model truncates
            out_spans.append(span)
            out_counts.append(tokens)
            continue
        sizes = [c - overhead for c in count([text[h.start : h.end] for h in halves])]
        pending.extend(list(zip(halves, sizes, strict=True))[::-1])
    return out_spans, out_counts


def sentence_spans_in(text: str, span: Span) -> list[Span]:
    piece = text[span.start : span.end]
    stripped = piece.strip()
    if not stripped:
        return []
    start = span.start + (len(piece) - len(piece.lstrip()))
    return [Span(start, start + len(stripped))]


# A span this many characters per token of budget is cut into windows before it is tokenized:
# no tokenizer averages 8 characters a token over a long text, and tokenizing one 30 MB line to
# bisect it took minutes and gigabytes. Windows of 4 characters a token need at most 2 bisections.
_PRECUT_CHARS_PER_TOKEN = 8
_WINDOW_CHARS_PER_TOKEN = 4


def _windows(text: str, span: Span, size: int) -> list[Span]:
    """`span` cut into pieces of about `size` characters, at a space where there is one."""
    out: list[Span] = []
    start = span.start
    while span.end - start > size:
        cut = text.rfind(" ", start + size // 2, start + size)
        cut = cut if cut > start else start + size
        out.append(Span(start, cut))
        start = cut
    out.append(Span(start, span.end))
    return [t for piece in out for t in sentence_spans_in(text, piece)]


def _precut(text: str, spans: list[Span], budget: int) -> list[Span]:
    limit = budget * _PRECUT_CHARS_PER_TOKEN
    out: list[Span] = []
    for span in spans:
        if span.end - span.start > limit:
            out.extend(_windows(text, span, budget * _WINDOW_CHARS_PER_TOKEN))
        else:
            out.append(span)
    return out


def _counted(count: TokenCounter, texts: list[str], batch: int = 512) -> list[int]:
    """Token counts in bounded batches: a tokenizer's output for a whole book at once is GBs."""
    out: list[int] = []
    for i in range(0, len(texts), batch):
        out.extend(count(texts[i : i + batch]))
    return out


def chunk_text(text: str, count: TokenCounter, max_tokens: int, overlap_tokens: int) -> list[Chunk]:
    """Split `text` into chunks of at most `max_tokens` model tokens (specials included).

    Linear in the length of the text: nothing longer than a few budgets is ever tokenized."""
    spans = sentence_spans(text)
    if not spans:
        return []
    overhead = count([""])[0]
    budget = max(1, max_tokens - overhead)
    spans = _precut(text, spans, budget)
    counts = [c - overhead for c in _counted(count, [text[s.start : s.end] for s in spans])]
    spans, counts = _fit_spans(text, spans, counts, budget, count, overhead)

    chunks: list[Chunk] = []
    first = fresh = 0  # spans before `fresh` are in the previous chunk: carried overlap
    while first < len(spans):
        last, used = first, 0
        while last < len(spans) and (last == first or used + counts[last] <= budget):
            used += counts[last]
            last += 1
        # Joined sentences can tokenize differently from their sum; verify and shrink, giving up
        # carried overlap before new text, so every chunk reaches past the one before it.
        while last - first > 1:
            piece = text[spans[first].start : spans[last - 1].end]
            if count([piece])[0] <= max_tokens:
                break
            if first < fresh:
                first += 1
            else:
                last -= 1
        start, end = spans[first].start, spans[last - 1].end
        chunks.append(Chunk(len(chunks), start, end, text[start:end]))
        if last >= len(spans):
            break
        # Overlap: whole spans from the end of this chunk, within overlap_tokens, and only as
        # much as still leaves room for the next new span (else the next chunk would hold only
        # text this one already holds).
        next_first, carried = last, 0
        while (
            next_first - 1 > first
            and carried + counts[next_first - 1] <= overlap_tokens
            and carried + counts[next_first - 1] + counts[last] <= budget
        ):
            next_first -= 1
            carried += counts[next_first]
        first, fresh = next_first, last
    return chunks
