"""Access tokens as the broker keeps them, and the fingerprint that names one without revealing it."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass


def fingerprint(access_token: str) -> str:
    return "sha256:" + hashlib.sha256(access_token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Token:
    access_token: str
    token_type: str
    expires_at: float  # unix seconds

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.access_token)

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "fingerprint": self.fingerprint})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Token:
        data = json.loads(raw)
        return cls(data["access_token"], data["token_type"], float(data["expires_at"]))

    def __repr__(self) -> str:  # never print the token itself
        return f"Token({self.fingerprint}, expires_at={self.expires_at:.0f})"
