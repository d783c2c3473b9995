"""A bounded open-loop mix through the edge: listings and token-info reads, signed supplier webhooks.

Requests leave on schedule (`rate` per second) however slow the answers are; every answer is kept with
when it left and when it came back, so a test can say which requests were in flight at a given moment.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from webhook_service import signature as sig

# Of every 10 requests: 5 listings (catalog), 1 token-info (auth, through the token broker), 4 webhooks.
MIX = ("list", "list", "webhook", "list", "token", "webhook", "list", "webhook", "list", "webhook")
LISTINGS = (
    {"limit": "20", "sort": "price", "order": "asc"},
    {"limit": "10", "category": "fruits"},
    {"limit": "20", "sort": "name", "order": "desc"},
    {"limit": "5", "min_price": "10", "max_price": "400", "sort": "price"},
    {"limit": "20", "q": "mango"},
)
EVENT_TYPE = "product.upserted"
EVENT_CATEGORY = "Distributed"


@dataclass(frozen=True)
class Answer:
    kind: str  # list, token, webhook
    started: float  # time.monotonic() when the request left
    finished: float
    status: int  # 0: no HTTP answer (transport error)
    detail: str  # webhooks: the answer's status (accepted, duplicate) or the error; else the error
    event_id: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


def event_body(event_id: str, n: int) -> bytes:
    document = {
        "type": EVENT_TYPE,
        "data": {
            "external_id": event_id,
            "name": f"Distributed product {n}",
            "description": "sent by tests/distributed through the edge",
            "category": EVENT_CATEGORY,
            "price": f"{10 + n % 90}.25",
            "stock": n % 100,
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


def send_webhook(client: httpx.Client, key: bytes, source: str, event_id: str, n: int) -> tuple[int, str]:
    """POSTs one signed event; (HTTP status, the answer's status or the error)."""
    body = event_body(event_id, n)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sig.sign(key, event_id, timestamp, body),
    }
    try:
        response = client.post(f"/v1/webhooks/{source}", content=body, headers=headers)
    except httpx.HTTPError as error:
        return 0, type(error).__name__
    if response.status_code != 200:
        return response.status_code, response.text[:200]
    return 200, str(response.json().get("status"))


@dataclass
class MixedLoad:
    base_url: str
    run: str
    source: str
    secret: str
    rate: float = 30.0
    seconds: float = 60.0
    threads: int = 48
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = sig.secret_key(self.secret)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._schedule = itertools.count()
        self._workers = [threading.Thread(target=self._work, daemon=True) for _ in range(self.threads)]
        self.started = 0.0

    def event_id(self, n: int) -> str:
        return f"dist-{self.run}-{n}"

    def __enter__(self) -> MixedLoad:
        self.started = time.monotonic()
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait()

    def wait(self) -> None:
        """Until every scheduled request has its answer (or the workers are told to stop)."""
        for worker in self._workers:
            worker.join(timeout=self.seconds + 60)

    def stop(self) -> None:
        self._stop.set()
        self.wait()

    def _work(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=20, trust_env=False) as client:
            while not self._stop.is_set():
                with self._lock:
                    index = next(self._schedule)
                due = self.started + index / self.rate
                if due - self.started >= self.seconds:
                    return
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                answer = self._one(client, index)
                with self._lock:
                    self.answers.append(answer)

    def _one(self, client: httpx.Client, index: int) -> Answer:
        kind = MIX[index % len(MIX)]
        started = time.monotonic()
        if kind == "webhook":
            event_id = self.event_id(index)
            status, detail = send_webhook(client, self._key, self.source, event_id, index)
            return Answer(kind, started, time.monotonic(), status, detail, event_id)
        path, params = (
            ("/v1/auth/token-info", {}) if kind == "token" else ("/v1/products", LISTINGS[index % 5])
        )
        try:
            response = client.get(path, params=params)
            status, detail = response.status_code, "" if response.status_code == 200 else response.text[:200]
        except httpx.HTTPError as error:
            status, detail = 0, type(error).__name__
        return Answer(kind, started, time.monotonic(), status, detail)

    def resend(self, answers: Iterable[Answer]) -> list[Answer]:
        """What the supplier does with a webhook that got no 200: the same event again, later."""
        again = []
        with httpx.Client(base_url=self.base_url, timeout=20, trust_env=False) as client:
            for answer in answers:
                n = int(answer.event_id.rsplit("-", 1)[1])
                started = time.monotonic()
                status, detail = send_webhook(client, self._key, self.source, answer.event_id, n)
                again.append(Answer("webhook", started, time.monotonic(), status, detail, answer.event_id))
        return again
