"""Entry point: `python -m webhook_service` serves; `python -m webhook_service migrate` migrates."""

from pathlib import Path

from farmlokal_common.entrypoint import run_service
from webhook_service.bootstrap import build_app
from webhook_service.settings import WebhookSettings

if __name__ == "__main__":
    run_service("webhook", WebhookSettings, Path(__file__).parent / "migrations", build_app)
