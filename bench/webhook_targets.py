"""`python -m bench.webhook_targets`: signed Standard Webhooks requests as a vegeta JSON targets file.

Signatures carry a timestamp the service accepts for ±5 minutes, so targets cannot be kept as files
like the ghz scenarios: make them right before an attack, e.g.

    python -m bench.webhook_targets --url http://127.0.0.1:8080/v1/webhooks/supplier --count 12000 > t.jsonl
    vegeta attack -format=json -lazy -targets=t.jsonl -rate=600/1s -duration=20s | vegeta report
    python -m bench.webhook_targets --url ... --duplicates > d.jsonl     # one event id, sent over and over
    vegeta attack -format=json -targets=d.jsonl -rate=1200/1s -duration=20s | vegeta report

The secret defaults to the dev secret of source `supplier` (WEBHOOK_SOURCE_SECRETS); give the
deployment's with --secret or BENCH_WEBHOOK_SECRET. Each event is a `product.upserted` creating the
product `bench-<run>-<n>` in the catalog.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time

from bench.harness import webhooks as wh
from bench.harness.stack import WEBHOOK_SECRET
from webhook_service import signature as sig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_targets", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--url", required=True, help="POST URL, e.g. http://127.0.0.1:8080/v1/webhooks/supplier"
    )
    parser.add_argument("--count", type=int, default=1000, help="distinct events (default 1000)")
    parser.add_argument(
        "--duplicates", action="store_true", help="one event instead of --count distinct ones"
    )
    parser.add_argument("--secret", default=os.environ.get("BENCH_WEBHOOK_SECRET", WEBHOOK_SECRET))
    parser.add_argument("--run", default=secrets.token_hex(4), help="the id part of bench-<run>-<n>")
    args = parser.parse_args(argv)
    key = sig.secret_key(args.secret)
    now = int(time.time())
    if args.duplicates:
        targets = iter([wh.duplicate_target(args.url, key, args.run, now)])
    else:
        targets = wh.distinct_targets(args.url, key, args.run, "", args.count, now)
    count = wh.write_targets("/dev/stdout", targets)
    print(f"{count} target(s), run {args.run}, signed at {now} (valid for 5 minutes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
