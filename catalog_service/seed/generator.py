"""Reproducible product generation: rows, their search words and postings, chunk by chunk as TSV files.

Chunk i of seed S is generated from its own Random((S, i)), so the result does not depend on how
many workers run or in which order they finish.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from catalog_service.listing.text import MAX_VOCAB_WORD, index_words, search_text, vocab_word
from catalog_service.seed.vocabulary import (
    CATALOG,
    CATEGORY_WEIGHTS,
    FARM_SUFFIXES,
    FARM_SYLLABLES,
    OPENERS,
    PHRASES,
    QUALIFIERS,
    REGIONS,
)

REFERENCE_TIME = dt.datetime(2026, 1, 1)  # created_at spreads over the two years before this
SPAN_SECONDS = 2 * 365 * 86400
FARM_COUNT = 4000
BULK_IMPORTS = 400  # timestamps shared by many products (supplier bulk imports): ties on created_at
BULK_SHARE = 0.15
MIN_WORDS, MAX_WORDS = 10, 40


@dataclass(frozen=True)
class Universe:
    """Everything a chunk needs that is shared across chunks: farms, import times, word ids."""

    seed: int
    farms: tuple[str, ...]
    bulk_times: tuple[int, ...]
    word_ids: dict[str, int] = field(hash=False)


def build_universe(seed: int) -> Universe:
    rng = random.Random(f"universe-{seed}")
    farms: list[str] = []
    seen: set[str] = set()
    while len(farms) < FARM_COUNT:
        base = "".join(rng.choice(FARM_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
        if base not in seen:
            seen.add(base)
            farms.append(f"{base} {rng.choice(FARM_SUFFIXES)}")
    bulk = tuple(sorted(rng.randrange(SPAN_SECONDS) for _ in range(BULK_IMPORTS)))
    texts: list[str] = [*farms, *QUALIFIERS, *REGIONS, *OPENERS, *PHRASES, *FARM_SUFFIXES]
    for items in CATALOG.values():
        for item in items:
            texts += [item.name, *item.varieties, *(label for label, _ in item.packs)]
    vocabulary = sorted({vocab_word(w) for t in texts for w in index_words(t)})
    return Universe(seed, tuple(farms), bulk, {w: i + 1 for i, w in enumerate(vocabulary)})


@dataclass
class ChunkResult:
    index: int
    products_path: Path
    search_path: Path
    postings_path: Path | None
    word_df: Counter[str]
    category_counts: Counter[str]


def _nice_price(value: float, rand: float) -> str:
    """Shop-like prices with many ties: 49.00, 95.00, 149.50 ..."""
    if value < 20:
        return f"{max(round(value * 2) / 2, 5.0):.2f}"
    step = 5 if value < 500 else 10 if value < 5000 else 100
    rounded: float = max(step, round(value / step) * step)
    if rand < 0.4:
        rounded -= 1
    elif rand < 0.45:
        rounded -= 0.5
    return f"{min(rounded, 99999999.99):.2f}"


def _pick(seq, rand):  # type: ignore[no-untyped-def]
    return seq[int(rand() * len(seq))]


def _description(rand, universe: Universe, item_name: str) -> str:  # type: ignore[no-untyped-def]
    farm = universe.farms[min(FARM_COUNT - 1, int(math.exp(rand() * _LOG_FARMS)) - 1)]
    words = _pick(OPENERS, rand).format(region=_pick(REGIONS, rand)).split()
    words += f"{item_name} from {farm}.".split()
    target = MIN_WORDS + int(rand() * (MAX_WORDS - MIN_WORDS + 1))
    while len(words) < target:
        # Skewed phrase choice: low indexes (the generic sentences) are much more common.
        words += _PHRASE_WORDS[int(len(PHRASES) * rand() ** 2.2)]
    text = " ".join(words[:target])
    return text if text.endswith(".") else text.rstrip(",") + "."


_LOG_FARMS = math.log(FARM_COUNT + 1)  # farms are log-uniform: a few in many products, most in a few
_PHRASE_WORDS = [p.split() for p in PHRASES]


def generate_chunk(
    universe: Universe,
    index: int,
    first_id: int,
    count: int,
    out_dir: Path,
    common_words: frozenset[str] | None,
) -> ChunkResult:
    """Writes products, product_search and (unless common_words is None) postings TSVs for a chunk."""
    rng = random.Random(f"chunk-{universe.seed}-{index}")
    rand = rng.random
    categories = list(CATEGORY_WEIGHTS)
    weights = [CATEGORY_WEIGHTS[c] for c in categories]
    picked = rng.choices(categories, weights=weights, k=count)
    word_df: Counter[str] = Counter()
    category_counts: Counter[str] = Counter(picked)
    postings: dict[int, list[str]] = {}
    word_ids = universe.word_ids
    bulk_times = universe.bulk_times
    reference = REFERENCE_TIME - dt.timedelta(seconds=SPAN_SECONDS)
    product_lines: list[str] = []
    search_lines: list[str] = []
    for row_id, category in zip(range(first_id, first_id + count), picked, strict=True):
        item = _pick(CATALOG[category], rand)
        variety = _pick(item.varieties, rand) if item.varieties and rand() < 0.75 else ""
        pack_label, multiplier = _pick(item.packs, rand)
        parts = [_pick(QUALIFIERS, rand)] if rand() < 0.45 else []
        parts += [variety, item.name, pack_label] if variety else [item.name, pack_label]
        name = " ".join(parts)
        description = _description(rand, universe, f"{variety} {item.name}" if variety else item.name)
        price = _nice_price(item.base_price * multiplier * _pick(_PRICE_FACTORS, rand), rand())
        stock = 0 if rand() < 0.1 else 1 + int(rand() * 500)
        offset = _pick(bulk_times, rand) if rand() < BULK_SHARE else int(rand() * SPAN_SECONDS)
        created = reference + dt.timedelta(seconds=offset)
        updated = min(created + dt.timedelta(seconds=int(rand() * 30 * 86400)), REFERENCE_TIME)
        product_lines.append(
            f"{row_id}\tseed{universe.seed}-{row_id:08d}\t{name}\t{description}\t{category}\t{price}"
            f"\t{stock}\t{created}\t{updated}\n"
        )
        found = index_words(name, description)
        search_lines.append(f"{row_id}\t{category}\t{search_text(found)}\n")
        vocab = found if max(map(len, found)) <= MAX_VOCAB_WORD else {vocab_word(w) for w in found}
        word_df.update(vocab)
        if common_words is not None:
            posting = f"\t{row_id}\t{category}\t{price}\t{created}\t{name}\n"
            for w in vocab - common_words:
                postings.setdefault(word_ids[w], []).append(posting)
    products_path = out_dir / f"products-{index:05d}.tsv"
    search_path = out_dir / f"search-{index:05d}.tsv"
    products_path.write_text("".join(product_lines), encoding="utf-8")
    search_path.write_text("".join(search_lines), encoding="utf-8")
    postings_path = None
    if common_words is not None:
        postings_path = out_dir / f"postings-{index:05d}.tsv"
        with open(postings_path, "w", encoding="ascii") as out:
            for word_id in sorted(postings):
                prefix = str(word_id)
                out.write("".join(prefix + line for line in postings[word_id]))
    return ChunkResult(index, products_path, search_path, postings_path, word_df, category_counts)


_PRICE_FACTORS = (0.8, 0.9, 1.0, 1.0, 1.2, 1.5)
