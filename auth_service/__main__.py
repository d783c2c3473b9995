"""Entry point: `python -m auth_service` serves; `python -m auth_service migrate` migrates."""

from pathlib import Path

from auth_service.bootstrap import build_app
from auth_service.settings import AuthSettings
from farmlokal_common.entrypoint import run_service

if __name__ == "__main__":
    run_service("auth", AuthSettings, Path(__file__).parent / "migrations", build_app)
