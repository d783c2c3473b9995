"""Against a real Keycloak: the provider of issue 16, run by `make test-interop` and CI."""
