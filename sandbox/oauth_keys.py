"""The sandbox OAuth2 provider's RS256 signing key and the JWKS that publishes its public half."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


class SigningKey:
    """One RSA key, stable for the life of the process; `kid` is its RFC 7638 thumbprint."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._private_key = private_key
        self._public_jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
        self.kid = _thumbprint(self._public_jwk)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem_file(cls, path: Path) -> SigningKey:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return cls(key)

    @classmethod
    def from_settings(cls, key_file: str) -> SigningKey:
        return cls.from_pem_file(Path(key_file)) if key_file else cls.generate()

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "at+jwt"}
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self._public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    canonical = json.dumps({name: public_jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
