"""B6's pure parts: signed vegeta targets, counting the answers, and the after-run delivery check.

Requests are signed with the Standard Webhooks scheme (webhook_service.signature) right
before a run, so every timestamp is within the service's ±5 minute tolerance. Each event is a
`product.upserted` whose external_id is also its event id, so the catalog row it should create can be
named from the event alone.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.harness.figures import Figures
from webhook_service import signature as sig

EVENT_TYPE = "product.upserted"
BENCH_CATEGORY = "Bench"
# What vegeta -lazy records once the targets run out: the end of the list, not a failed request.
EXHAUSTED = "no targets to attack"


def event_id(run: str, label: str) -> str:
    """`bench-<run>-<label>`; also the product's external_id (the catalog allows A-Z a-z 0-9 . _ : -)."""
    return f"bench-{run}-{label}"


def event_body(run: str, external_id: str, n: int) -> bytes:
    document = {
        "type": EVENT_TYPE,
        "data": {
            "external_id": external_id,
            "name": f"Bench {run} product {n}",
            "description": f"created by python -m bench (B6, run {run})",
            "category": BENCH_CATEGORY,
            "price": f"{10 + n % 90}.50",
            "stock": n % 100,
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


def signed_target(url: str, key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, Any]:
    """One vegeta JSON target (`-format=json`): headers are lists, the body is base64."""
    return {
        "method": "POST",
        "url": url,
        "body": base64.b64encode(body).decode(),
        "header": {
            "content-type": ["application/json"],
            "webhook-id": [message_id],
            "webhook-timestamp": [str(timestamp)],
            "webhook-signature": [sig.sign(key, message_id, timestamp, body)],
        },
    }


def distinct_targets(
    url: str, key: bytes, run: str, prefix: str, count: int, timestamp: int
) -> Iterator[dict[str, Any]]:
    """`count` events with ids bench-<run>-<prefix><n>, each a new product."""
    for n in range(count):
        message_id = event_id(run, f"{prefix}{n}")
        yield signed_target(url, key, message_id, timestamp, event_body(run, message_id, n))


def duplicate_target(url: str, key: bytes, run: str, timestamp: int) -> dict[str, Any]:
    """The one event of the duplicates run (vegeta sends the same target over and over)."""
    message_id = event_id(run, "dup")
    return signed_target(url, key, message_id, timestamp, event_body(run, message_id, 0))


def write_targets(path: Any, targets: Iterable[dict[str, Any]]) -> int:
    count = 0
    with open(path, "w") as out:
        for target in targets:
            out.write(json.dumps(target, separators=(",", ":")) + "\n")
            count += 1
    return count


@dataclass
class Receipts:
    """What the service answered, from the bodies vegeta kept (`vegeta encode -to=json`)."""

    accepted_ids: list[str] = field(default_factory=list)
    duplicate_ids: Counter[str] = field(default_factory=Counter)
    other: Counter[str] = field(default_factory=Counter)  # non-200 codes and transport errors
    exhausted: int = 0

    @property
    def accepted(self) -> int:
        return len(self.accepted_ids)

    @property
    def duplicates(self) -> int:
        return sum(self.duplicate_ids.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicates,
            "other": dict(self.other),
            "targets_exhausted": self.exhausted,
        }


def count_receipts(lines: Iterable[str]) -> Receipts:
    receipts = Receipts()
    for line in lines:
        if not line.strip():
            continue
        result = json.loads(line)
        code = int(result.get("code") or 0)
        if code == 0 and result.get("error") == EXHAUSTED:
            receipts.exhausted += 1
            continue
        if code != 200:
            receipts.other[f"http {code}" if code else f"error {result.get('error') or 'unknown'}"] += 1
            continue
        try:
            answer = json.loads(base64.b64decode(result.get("body") or ""))
            status, message_id = answer["status"], answer["event_id"]
        except (ValueError, KeyError, TypeError):
            receipts.other["200 with an unreadable body"] += 1
            continue
        if status == "accepted":
            receipts.accepted_ids.append(message_id)
        elif status == "duplicate":
            receipts.duplicate_ids[message_id] += 1
        else:
            receipts.other[f"200 status {status!r}"] += 1
    return receipts


def without_exhaustion(figures: Figures, exhausted: int) -> Figures:
    """vegeta's report counts the end-of-targets marker as a request with code 0: take it out."""
    if not exhausted:
        return figures
    kinds = dict(figures.error_kinds)
    left = kinds.get("http 0", 0) - exhausted
    if left > 0:
        kinds["http 0"] = left
    else:
        kinds.pop("http 0", None)
    requests = figures.requests - exhausted
    return Figures(
        requests=requests,
        duration_s=figures.duration_s,
        rps=requests / figures.duration_s if figures.duration_s else 0.0,
        p50_ms=figures.p50_ms,
        p95_ms=figures.p95_ms,
        p99_ms=figures.p99_ms,
        max_ms=figures.max_ms,
        errors=sum(kinds.values()),
        error_kinds=kinds,
    )


@dataclass(frozen=True)
class StoredEvent:
    status: str
    attempts: int


@dataclass
class DeliveryCheck:
    """After processing drained: every acknowledged event stored and applied exactly once.

    `lost`: acknowledged (200 accepted) but no row. `unacknowledged`: a row the load tool saw no
    `accepted` for (stored, then the answer was lost: at-least-once, not a loss, but reported).
    `not_processed`: status other than processed (pending/processing after the wait, failed, dead).
    `reprocessed`: attempts > 1. `missing_products` / `duplicate_products`: catalog rows per external_id.
    """

    acknowledged: int
    rows: int
    lost: list[str] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)
    acknowledged_twice: list[str] = field(default_factory=list)
    not_processed: dict[str, str] = field(default_factory=dict)
    reprocessed: dict[str, int] = field(default_factory=dict)
    missing_products: list[str] = field(default_factory=list)
    duplicate_products: dict[str, int] = field(default_factory=dict)
    products_checked: bool = True

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.acknowledged_twice
            or self.not_processed
            or self.reprocessed
            or self.missing_products
            or self.duplicate_products
        ) and (self.rows == self.acknowledged)

    def summary(self) -> str:
        parts = [f"{self.rows:,} rows for {self.acknowledged:,} accepted"]
        problems = {
            "lost": len(self.lost),
            "accepted twice": len(self.acknowledged_twice),
            "stored without an accepted answer": len(self.unacknowledged),
            "not processed": len(self.not_processed),
            "with attempts > 1 (retried or processed twice)": len(self.reprocessed),
            "without a product": len(self.missing_products),
            "with several products": len(self.duplicate_products),
        }
        found = [f"{n:,} {what}" for what, n in problems.items() if n]
        parts.append(", ".join(found) if found else "none lost, none processed twice")
        if not self.products_checked:
            parts.append("catalog rows not checked")
        if self.not_processed:
            statuses = Counter(self.not_processed.values())
            parts.append("statuses " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())))
        return "; ".join(parts)

    def to_dict(self, sample: int = 10) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "acknowledged": self.acknowledged,
            "rows": self.rows,
            "lost": self.lost[:sample],
            "lost_count": len(self.lost),
            "unacknowledged": self.unacknowledged[:sample],
            "unacknowledged_count": len(self.unacknowledged),
            "acknowledged_twice": self.acknowledged_twice[:sample],
            "not_processed": dict(list(self.not_processed.items())[:sample]),
            "not_processed_count": len(self.not_processed),
            "reprocessed": dict(list(self.reprocessed.items())[:sample]),
            "reprocessed_count": len(self.reprocessed),
            "missing_products": self.missing_products[:sample],
            "duplicate_products": dict(list(self.duplicate_products.items())[:sample]),
            "products_checked": self.products_checked,
        }


def check_delivery(
    accepted_ids: Iterable[str],
    events: Mapping[str, StoredEvent],
    products: Mapping[str, int] | None,
) -> DeliveryCheck:
    """accepted_ids: every `accepted` answer (repeats are a bug: one id accepted twice).
    events: the run's rows by event id. products: catalog rows per external_id (= event id), or None
    when the catalog cannot be read."""
    answered = Counter(accepted_ids)
    check = DeliveryCheck(acknowledged=len(answered), rows=len(events), products_checked=products is not None)
    check.acknowledged_twice = sorted(i for i, n in answered.items() if n > 1)
    check.lost = sorted(i for i in answered if i not in events)
    check.unacknowledged = sorted(i for i in events if i not in answered)
    for message_id, event in sorted(events.items()):
        if event.status != "processed":
            check.not_processed[message_id] = event.status
        if event.attempts > 1:
            check.reprocessed[message_id] = event.attempts
        if products is not None:
            count = products.get(message_id, 0)
            if count == 0 and event.status == "processed":
                check.missing_products.append(message_id)
            elif count > 1:
                check.duplicate_products[message_id] = count
    return check
