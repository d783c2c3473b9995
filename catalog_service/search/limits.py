"""The search plan's thresholds, in one place (tests set them low to drive every path on a small catalog).

Measured on 1M products (docs/catalog-queries.md): a primary-key read costs about 3 us, a sort index
entry walked and tested about 1 us, a bucket bitmap about 20 us.
"""

# A candidate set this small is read by primary key.
DIRECT_MAX = 1000
# A bucket with at most this many candidates is read by id (<= 512 lookups, ~0.7 ms), one with more
# is walked (expected fetch x bucket size / candidates entries, ~340 for a page of 21; at most the
# bucket when its candidates sit at its far end).
DIRECT_BUCKET = 512
WALK_CHUNK_MIN = 64
# Attempts at a page before the single-statement plans answer (a concurrent write changed it).
MAX_ATTEMPTS = 3
# q has at most 100 characters, so at most 25 terms; the classes have 1 to 8.
MAX_TERMS = 25
