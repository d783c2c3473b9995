"""The interop realm, made through Keycloak's admin REST API: client scopes with audience mappers,
service-account clients (client credentials), login events, and the signing keys for rotation."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from tests.interop.keycloak import Keycloak

REALM = "farmlokal"
API_AUDIENCE = "https://api.farmlokal.test"
SUPPLIER_AUDIENCE = "https://supplier.farmlokal.test"
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"
# A client scope per permission; its audience mapper puts the audience that permission is for in `aud`
# (Keycloak ignores an `audience` form field).
SCOPES = {
    "supplier:read": SUPPLIER_AUDIENCE,
    "catalog:admin": API_AUDIENCE,
    "webhooks:admin": API_AUDIENCE,
    "api:read": API_AUDIENCE,
}


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    scopes: tuple[str, ...]
    token_lifespan_seconds: int = 300

    @property
    def credentials(self) -> tuple[str, str]:
        return self.client_id, self.secret


def _client(client_id: str, scopes: tuple[str, ...], lifespan: int = 300) -> Client:
    return Client(client_id, secrets.token_urlsafe(24), scopes, lifespan)


SERVICES = _client("farmlokal-services", ("supplier:read",))
ADMIN = _client("farmlokal-admin", ("catalog:admin", "webhooks:admin"))
READER = _client("farmlokal-reader", ("api:read",))  # a valid API token without the admin scopes
SHORT_LIVED_ADMIN = _client("farmlokal-admin-short", ("catalog:admin", "webhooks:admin"), lifespan=2)
CLIENTS = (SERVICES, ADMIN, READER, SHORT_LIVED_ADMIN)


class RealmAdmin:
    """The admin REST API for one realm (a fresh master-realm admin token per instance)."""

    def __init__(self, keycloak: Keycloak, realm: str = REALM) -> None:
        self.keycloak = keycloak
        self.realm = realm
        self._http = httpx.Client(
            base_url=f"{keycloak.url}/admin/realms",
            headers={"authorization": f"Bearer {keycloak.admin_token()}"},
            trust_env=False,
            timeout=30,
        )

    @property
    def issuer(self) -> str:
        return f"{self.keycloak.url}/realms/{self.realm}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    def jwks_uri(self, https: bool = False) -> str:
        base = f"https://localhost:{self.keycloak.https_port}" if https else self.keycloak.url
        return f"{base}/realms/{self.realm}/protocol/openid-connect/certs"

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code == 401:  # the master realm's admin tokens live 60 s
            self._http.headers["authorization"] = f"Bearer {self.keycloak.admin_token()}"
            response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"keycloak {method} {path}: {response.status_code} {response.text[:300]}")
        return response

    # -- setup ---------------------------------------------------------------------------------

    def create(self) -> None:
        # Login events are what the suite counts token requests by (Keycloak's own record of them).
        realm = {
            "realm": self.realm,
            "enabled": True,
            "eventsEnabled": True,
            "enabledEventTypes": ["CLIENT_LOGIN", "CLIENT_LOGIN_ERROR"],
            "accessTokenLifespan": 300,
        }
        self._call("POST", "", json=realm)
        scope_ids = {name: self._client_scope(name, audience) for name, audience in SCOPES.items()}
        for client in CLIENTS:
            self._service_client(client, [scope_ids[name] for name in client.scopes])

    def _client_scope(self, name: str, audience: str) -> str:
        scope = {
            "name": name,
            "protocol": "openid-connect",
            "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
            "protocolMappers": [
                {
                    "name": f"audience {audience}",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "config": {
                        "included.custom.audience": audience,
                        "access.token.claim": "true",
                        "id.token.claim": "false",
                    },
                }
            ],
        }
        created = self._call("POST", f"/{self.realm}/client-scopes", json=scope)
        return created.headers["location"].rsplit("/", 1)[-1]

    def _service_client(self, client: Client, scope_ids: list[str]) -> None:
        representation = {
            "clientId": client.client_id,
            "secret": client.secret,
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "clientAuthenticatorType": "client-secret",
            "attributes": {"access.token.lifespan": str(client.token_lifespan_seconds)},
        }
        created = self._call("POST", f"/{self.realm}/clients", json=representation)
        client_uuid = created.headers["location"].rsplit("/", 1)[-1]
        for scope_id in scope_ids:
            self._call("PUT", f"/{self.realm}/clients/{client_uuid}/default-client-scopes/{scope_id}")

    # -- tokens and events ----------------------------------------------------------------------

    def token(self, client: Client) -> str:
        with httpx.Client(trust_env=False, timeout=10) as http:
            response = http.post(
                self.token_url, data={"grant_type": "client_credentials"}, auth=client.credentials
            )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def login_events(self, client: Client, since_ms: int, kind: str = "CLIENT_LOGIN") -> int:
        """Keycloak's own count of token requests by client since a time (its events are written
        as the request ends: wait until the count stops moving)."""
        last, stable_since = -1, time.monotonic()
        while True:
            events = self._call(
                "GET", f"/{self.realm}/events", params={"type": kind, "client": client.client_id, "max": 5000}
            ).json()
            count = sum(1 for event in events if int(event["time"]) >= since_ms)
            if count != last:
                last, stable_since = count, time.monotonic()
            elif time.monotonic() - stable_since > 1.0:
                return count
            time.sleep(0.2)

    # -- signing keys ---------------------------------------------------------------------------

    def signing_kid(self, client: Client = ADMIN) -> str:
        return str(jwt.get_unverified_header(self.token(client))["kid"])

    def rs256_key_providers(self) -> list[dict[str, Any]]:
        components = self._call("GET", f"/{self.realm}/components", params={"type": KEY_PROVIDER}).json()
        return [c for c in components if c["providerId"] == "rsa-generated"]

    def add_rs256_key(self, name: str, priority: int, active: bool) -> str:
        """A new RS256 signing key; passive (active=False) keys are published in the JWKS but sign nothing."""
        realm_id = self._call("GET", f"/{self.realm}").json()["id"]
        component = {
            "name": name,
            "providerId": "rsa-generated",
            "providerType": KEY_PROVIDER,
            "parentId": realm_id,
            "config": {
                "priority": [str(priority)],
                "enabled": ["true"],
                "active": [str(active).lower()],
                "algorithm": ["RS256"],
                "keySize": ["2048"],
            },
        }
        created = self._call("POST", f"/{self.realm}/components", json=component)
        return created.headers["location"].rsplit("/", 1)[-1]

    def set_key(self, component_id: str, **config: bool) -> None:
        """Sets a key provider's `active` and/or `enabled` (a disabled key leaves the JWKS)."""
        component = self._call("GET", f"/{self.realm}/components/{component_id}").json()
        for name, value in config.items():
            component["config"][name] = [str(value).lower()]
        self._call("PUT", f"/{self.realm}/components/{component_id}", json=component)

    def kid_of(self, component_id: str) -> str:
        keys = self._call("GET", f"/{self.realm}/keys").json()["keys"]
        return str(next(key["kid"] for key in keys if key.get("providerId") == component_id))
