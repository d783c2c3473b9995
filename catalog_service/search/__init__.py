"""Search with a bounded worst case: exact candidate sets by bitmaps, and sort buckets.

- bitmaps: the sets (word, heavy prefix, category) as Roaring bitmaps in MariaDB, per 65536 ids.
- buckets: each sort order cut into ranges of about BUCKET_SIZE products, with their bitmaps.
- plan: a search page from those (catalog_service.search.plan.search).
- maintain: BitmapIndexer, the write path's hook (called by listing.indexer.SearchIndexer).
- build: the bulk build for the seeder and the migration.

docs/catalog-queries.md ("Search with a bounded worst case") has the design, its measurements and
the bound.
"""
