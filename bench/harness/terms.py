"""Search terms for B3, one per frequency class: given on the command line, or chosen from the index.

The seeder's index keeps every word with its document frequency (catalog.search_words). A term is
chosen only if no other indexed word starts with it, so its document frequency is exactly the number
of products that match it (a search term matches words it prefixes).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, text

# name: (target share of products, lowest share accepted, highest share accepted)
CLASSES: dict[str, tuple[float, float, float]] = {
    "common": (0.25, 0.20, 0.60),
    "medium": (0.01, 0.005, 0.02),
    "rare": (0.00005, 0.000001, 0.0001),
}


@dataclass(frozen=True)
class SearchTerm:
    frequency_class: str
    term: str
    matches: int | None  # products matching, when known
    share: float | None

    def describe(self) -> str:
        if self.share is None:
            return f"{self.frequency_class} '{self.term}'"
        return f"{self.frequency_class} '{self.term}' ({self.matches:,} products, {self.share:.4%})"


def parse_terms(spec: str) -> list[SearchTerm]:
    """'common=fresh,medium=kesar,rare=xyz' -> terms with unknown frequency."""
    terms = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, term = item.partition("=")
        if name not in CLASSES or not term:
            raise ValueError(f"bad search term {item!r}: use {'|'.join(CLASSES)}=TERM")
        terms.append(SearchTerm(name, term, None, None))
    return terms


def discover_terms(database_url: str, products: int) -> list[SearchTerm]:
    """One term per class from catalog.search_words, the closest to the class's target share."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT word, df FROM catalog.search_words WHERE df > 0")).all()
    finally:
        engine.dispose()
    exact = exact_words(sorted((str(w), int(df)) for w, df in rows))
    chosen = []
    for name, (target, low, high) in CLASSES.items():
        fits = [(w, df) for w, df in exact if low <= df / products <= high]
        if not fits:
            continue
        word, df = min(fits, key=lambda item: (abs(item[1] / products - target), item[0]))
        chosen.append(SearchTerm(name, word, df, df / products))
    return chosen


def exact_words(words: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Of sorted (word, df): the alphabetic words no other word starts with (df = their matches)."""
    return [(w, df) for i, (w, df) in enumerate(words) if not _prefixes_next(words, i) and w.isalpha()]


def _prefixes_next(words: list[tuple[str, int]], index: int) -> bool:
    """Sorted words: if word i prefixes any other word, it prefixes word i+1."""
    return index + 1 < len(words) and words[index + 1][0].startswith(words[index][0])
