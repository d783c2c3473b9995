"""Command line of the seeder; the database URL comes from CatalogSettings (CATALOG_DATABASE_URL)."""

from __future__ import annotations

import argparse
import os
import sys

import redis

from catalog_service.cache_generation import Generations
from catalog_service.seed.loader import loader_engine, seed
from catalog_service.seed.progress import BarProgress
from catalog_service.settings import CatalogSettings
from farmlokal_common import gtid
from farmlokal_common.redis_client import RedisTarget, connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog_service.seed", description=__doc__)
    parser.add_argument("--reset", action="store_true", help="replace an existing catalog")
    parser.add_argument(
        "--products", type=int, default=int(os.environ.get("SEED_PRODUCTS", "1000000")), help="how many"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed: same seed, same catalog")
    parser.add_argument("--workers", type=int, default=2, help="generator processes")
    args = parser.parse_args(argv)
    if args.products < 1:
        parser.error("--products must be at least 1")
    settings = CatalogSettings()
    engine = loader_engine(settings.database_url)
    progress = BarProgress()
    try:
        report = seed(engine, args.products, args.seed, args.reset, args.workers, progress)
        position = "" if report.skipped else gtid.primary_position(engine)
    finally:
        progress.close()
        engine.dispose()
    if report.skipped:
        print("the catalog already has products; left alone (use --reset to replace it)")
        return 0
    _bump_generation(settings, position)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    print(f"seeded {report.products} products, {report.words} words, {report.postings} postings: {steps}")
    return 0


def _bump_generation(settings: CatalogSettings, position: str) -> None:
    """Cached listings carry the generation; a new one invalidates them, and its floor makes reads
    from a replica wait for the seed. Redis being down is fine."""
    try:
        client = connect(RedisTarget.from_settings(settings), timeout_seconds=1)
        try:
            Generations(client, "catalog", lambda: position).bump(position)
        finally:
            client.close()
    except redis.RedisError:
        pass


if __name__ == "__main__":
    sys.exit(main())
