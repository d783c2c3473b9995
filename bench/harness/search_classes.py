"""B3's worst-case search classes (issue 15), chosen from the seeded index: two common words that rarely
or never meet, three common words that rarely meet, a common word with a rare one, a 3-character
prefix of many words, a common word with a narrow price range.

Co-occurrence is counted on a sample of product_search (every k-th product), with a bitset per
common word; document frequencies come from search_words (exact for words no other word extends).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, text

from bench.harness.terms import SearchTerm, exact_words

COMMON_SHARE = 0.05  # "common": in more than 5% of products
SAMPLE_ROWS = 20_000
NARROW_PRICE_SHARE = 0.002  # the narrow price range holds about 0.2% of the products
MAX_TRIPLE_WORDS = 60  # the most frequent common words considered for triples (C(60, 3) = 34,220)


@dataclass(frozen=True)
class SearchClass:
    """One worst-case class: its q, an optional price range, and what the sample says about it."""

    name: str
    q: str
    filters: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    def request(self) -> dict[str, str]:
        return {"q": self.q, **self.filters}

    def describe(self) -> str:
        shown = " ".join(f"{k}={v}" for k, v in self.request().items())
        return f"{self.name} ({shown}{'; ' + self.detail if self.detail else ''})"


def sample_bitsets(texts: Sequence[str], words: Sequence[str]) -> dict[str, int]:
    """word -> bitset of the sample rows (search_text ' w1 w2 ...') holding it."""
    wanted = set(words)
    bits = dict.fromkeys(words, 0)
    for row, search_text in enumerate(texts):
        for word in search_text.split():
            if word in wanted:
                bits[word] |= 1 << row
    return bits


def _count(bits: int) -> int:
    return bits.bit_count()


def anti_correlated_pair(bits: Mapping[str, int], df: Mapping[str, int]) -> tuple[str, str, int] | None:
    """The two words that meet least in the sample; among equals, the most frequent pair."""
    best: tuple[int, int, str, str] | None = None
    for a, b in itertools.combinations(sorted(bits), 2):
        key = (_count(bits[a] & bits[b]), -min(df[a], df[b]), a, b)
        if best is None or key < best:
            best = key
    return (best[2], best[3], best[0]) if best else None


def rare_triple(bits: Mapping[str, int], df: Mapping[str, int]) -> tuple[tuple[str, str, str], int] | None:
    """Three words that rarely meet all together although each two of them do: fewest triple
    meetings, then the most pairwise meetings (a plan intersecting pairs gains nothing)."""
    words = sorted(bits, key=lambda w: -df[w])[:MAX_TRIPLE_WORDS]
    best: tuple[int, int, tuple[str, str, str]] | None = None
    for triple in itertools.combinations(sorted(words), 3):
        a, b, c = (bits[w] for w in triple)
        pairs = min(_count(a & b), _count(a & c), _count(b & c))
        key = (_count(a & b & c), -pairs, triple)
        if best is None or key < best:
            best = key
    return (best[2], best[0]) if best else None


def widest_prefix(words: Sequence[str]) -> tuple[str, int] | None:
    """The 3-character prefix (letters only) that the most indexed words start with."""
    counts: dict[str, int] = {}
    for word in words:
        if len(word) >= 3 and word[:3].isalpha():
            counts[word[:3]] = counts.get(word[:3], 0) + 1
    if not counts:
        return None
    prefix = min(counts, key=lambda p: (-counts[p], p))
    return prefix, counts[prefix]


def choose_classes(
    texts: Sequence[str],
    vocabulary: Mapping[str, int],
    products: int,
    terms: Sequence[SearchTerm],
    narrow_range: tuple[str, str, int] | None,
) -> list[SearchClass]:
    """Every class that the data allows, in report order."""
    exact = exact_words(sorted(vocabulary.items()))
    common = {w: df for w, df in exact if df > COMMON_SHARE * products}
    bits = sample_bitsets(texts, list(common))
    by_class = {t.frequency_class: t for t in terms}
    classes: list[SearchClass] = []
    sample = f"sample of {len(texts):,} products"
    pair = anti_correlated_pair(bits, common)
    if pair:
        a, b, met = pair
        share = f"{common[a] / products:.1%} and {common[b] / products:.1%}"
        classes.append(
            SearchClass("two common, anti-correlated", f"{a} {b}", {}, f"{share}; together {met} in {sample}")
        )
    triple = rare_triple(bits, common)
    if triple:
        words, met = triple
        classes.append(
            SearchClass("three common", " ".join(words), {}, f"all three together {met} in {sample}")
        )
    common_term, rare_term = by_class.get("common"), by_class.get("rare")
    if common_term and rare_term:
        classes.append(SearchClass("common + rare", f"{common_term.term} {rare_term.term}"))
    prefix = widest_prefix(list(vocabulary))
    if prefix:
        classes.append(SearchClass("3-character prefix", prefix[0], {}, f"prefixes {prefix[1]:,} words"))
    if common_term and narrow_range:
        low, high, held = narrow_range
        filters = {"min_price": low, "max_price": high}
        detail = f"{held:,} products ({held / products:.2%}) in the range"
        classes.append(SearchClass("common + narrow price range", common_term.term, filters, detail))
    return classes


def discover_classes(database_url: str, products: int, terms: Sequence[SearchTerm]) -> list[SearchClass]:
    """Reads a sample, the vocabulary and a narrow price range from the own stack's catalog."""
    step = max(1, products // SAMPLE_ROWS)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            texts = [
                str(t)
                for (t,) in conn.execute(
                    text("SELECT search_text FROM catalog.product_search WHERE product_id % :k = 0"),
                    {"k": step},
                )
            ]
            vocabulary = {
                str(w): int(df)
                for w, df in conn.execute(text("SELECT word, df FROM catalog.search_words WHERE df > 0"))
            }
            narrow = narrow_price_range(conn, products)
    finally:
        engine.dispose()
    return choose_classes(texts, vocabulary, products, terms, narrow)


def narrow_price_range(conn: Any, products: int) -> tuple[str, str, int] | None:
    """From the median price up to the price NARROW_PRICE_SHARE of the products further (prices
    repeat, so the range may be one price); with the products it holds."""
    start = products // 2
    width = max(1, int(products * NARROW_PRICE_SHARE))
    statement = text(
        "SELECT price FROM catalog.products FORCE INDEX (ix_products_price) ORDER BY price LIMIT 1 OFFSET :o"
    )
    low = conn.execute(statement, {"o": start}).scalar()
    high = conn.execute(statement, {"o": start + width}).scalar()
    if low is None or high is None:
        return None
    held = conn.execute(
        text("SELECT COUNT(*) FROM catalog.products WHERE price BETWEEN :low AND :high"),
        {"low": low, "high": high},
    ).scalar()
    return f"{low:.2f}", f"{high:.2f}", int(held or 0)
