from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from indexer.chunking import chunk_text, sentence_spans


def word_counter(texts: Sequence[str]) -> list[int]:
    """A model-like counter: one token per word or CJK character, plus 2 specials."""
    return [len(re.findall(r"[\u4e00-\u9fff]|\w+|[^\w\s]", t)) + 2 for t in texts]


ENGLISH = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(60))
CHINESE = "".join(f"第{i}句话讲的是春天的河岸和柳树。" for i in range(60))


def test_sentence_spans_cover_english_and_chinese_punctuation() -> None:
    text = "One. Two! Three? 四。五！六？七；\nEight"
    pieces = [text[s.start : s.end] for s in sentence_spans(text)]
    assert pieces == ["One.", "Two!", "Three?", "四。", "五！", "六？", "七；", "Eight"]


@pytest.mark.parametrize("text", [ENGLISH, CHINESE])
@pytest.mark.parametrize(("size", "overlap"), [(32, 0), (48, 12), (128, 32)])
def test_chunks_respect_budget_spans_and_overlap(text: str, size: int, overlap: int) -> None:
    chunks = chunk_text(text, word_counter, size, overlap)
    assert len(chunks) > 1
    for chunk in chunks:
        assert word_counter([chunk.text])[0] <= size
        assert text[chunk.start : chunk.end] == chunk.text
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.start > before.start
        assert after.start <= before.end + 1  # no text is dropped between chunks
        if overlap:
            assert after.start < before.end  # neighbours share a sentence
    ends = {s.end for s in sentence_spans(text)}
    assert all(c.end in ends for c in chunks), "cuts fall on sentence ends"


def test_a_sentence_longer_than_the_budget_is_split() -> None:
    long_sentence = " ".join(["word"] * 300) + "."
    chunks = chunk_text(long_sentence, word_counter, 50, 0)
    assert len(chunks) >= 6
    assert all(word_counter([c.text])[0] <= 50 for c in chunks)
    assert "".join(c.text.replace(" ", "") for c in chunks) == long_sentence.replace(" ", "")


def test_chinese_without_punctuation_is_split_between_characters() -> None:
    text = "春" * 500
    chunks = chunk_text(text, word_counter, 64, 0)
    assert all(word_counter([c.text])[0] <= 64 for c in chunks)
    assert sum(len(c.text) for c in chunks) == 500


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_gives_no_chunks(text: str) -> None:
    assert chunk_text(text, word_counter, 64, 8) == []


def test_short_text_is_one_chunk() -> None:
    (chunk,) = chunk_text("  Just one line.  ", word_counter, 64, 8)
    assert chunk.text == "Just one line." and (chunk.start, chunk.end) == (2, 16)


@pytest.mark.slow
def test_real_tokenizer_never_exceeds_the_model_limit(real_embedder) -> None:
    text = (ENGLISH + " ") * 5 + CHINESE * 3
    limit = real_embedder.max_tokens
    chunks = chunk_text(text, real_embedder.count_tokens, limit, 32)
    counts = real_embedder.count_tokens([c.text for c in chunks])
    assert max(counts) <= limit
    assert min(counts) > limit // 4  # packed, not one sentence per chunk


@pytest.mark.parametrize("separator", [" ", ""])
def test_one_huge_line_is_chunked_without_tokenizing_it_whole(separator: str) -> None:
    """A 2 MB line with no sentence end (words, or CJK without spaces): the counter only ever
    sees pieces of a few budgets, so the work is linear and memory stays bounded."""
    unit = "glacier" if separator else "河岸柳树"
    text = separator.join([unit] * (2_000_000 // (len(unit) + len(separator))))
    seen: list[int] = []

    def counting(texts: Sequence[str]) -> list[int]:
        seen.append(max(len(t) for t in texts))
        assert len(texts) <= 512
        return word_counter(texts)

    chunks = chunk_text(text, counting, 64, 8)
    assert max(seen) <= 64 * 8, "nothing near the line's length was tokenized"
    assert all(word_counter([c.text])[0] <= 64 for c in chunks)
    covered = "".join(c.text for c in chunks).replace(" ", "")
    assert len(covered) >= len(text.replace(" ", "")), "every character is in some chunk"
