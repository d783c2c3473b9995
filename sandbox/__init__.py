"""Local stand-ins for the outside world: OAuth2 provider, supplier API, webhook sender."""
