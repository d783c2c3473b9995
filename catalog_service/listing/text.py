"""Search tokenisation: the one definition of a word, shared by the index, the query parser and tests.

A word is a maximal run of letters, digits and combining marks after the text is case-folded,
decomposed (NFKD) and stripped of accents (combining marks with a non-zero combining class), so
"Crème" and "creme" are the same word. Only words of MIN_TERM_LENGTH+ characters are indexed,
because a query term shorter than that is ignored and a term can only prefix a word at least as long.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MIN_TERM_LENGTH = 3
# Longest word kept in the vocabulary table (its column width); longer words are indexed by this
# prefix and every candidate is re-checked against the full text, so nothing is lost.
MAX_VOCAB_WORD = 64

_ASCII_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def words(text: str) -> list[str]:
    """Every word of text in order, any length (see the module docstring)."""
    if text.isascii():  # the common case, and identical to the general path for ASCII
        return _ASCII_WORD.findall(text.lower())
    found: list[str] = []
    current: list[str] = []
    for ch in normalise(text):
        if _is_word_char(ch):
            current.append(ch)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


@functools.lru_cache(maxsize=1 << 16)
def _chunk_index_words(chunk: str) -> frozenset[str]:
    return frozenset(w for w in words(chunk) if len(w) >= MIN_TERM_LENGTH)


def index_words(*texts: str) -> set[str]:
    """The distinct searchable words (MIN_TERM_LENGTH+ characters) of the given texts.

    Whitespace always separates words, so the words of a text are the union of the words of its
    whitespace-separated chunks; chunks repeat a lot in a catalog, hence the cache.
    """
    return set().union(*map(_chunk_index_words, " ".join(texts).split()))


def search_text(words_: set[str]) -> str:
    """The stored form that a plain LIKE '% term%' tests: every word preceded by one space."""
    return " " + " ".join(sorted(words_)) if words_ else ""


def query_terms(q: str) -> tuple[str, ...]:
    """The AND terms of a search text: words of MIN_TERM_LENGTH+ characters, deduplicated, sorted.

    A term that is a prefix of another term is dropped: any word the longer one prefixes, the
    shorter one prefixes too, so it adds no condition.
    """
    candidates = sorted({w for w in words(q) if len(w) >= MIN_TERM_LENGTH})
    return tuple(t for t in candidates if not any(o != t and o.startswith(t) for o in candidates))


def vocab_word(word: str) -> str:
    return word[:MAX_VOCAB_WORD]


def matches(terms: tuple[str, ...], words_: set[str]) -> bool:
    """Brute-force definition of a match, used by tests and as the reference for the SQL plans."""
    return all(any(w.startswith(t) for w in words_) for t in terms)
