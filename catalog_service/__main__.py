"""Entry point: `python -m catalog_service` serves; `python -m catalog_service migrate` migrates."""

from pathlib import Path

from catalog_service.bootstrap import build_app
from catalog_service.settings import CatalogSettings
from farmlokal_common.entrypoint import run_service

if __name__ == "__main__":
    run_service("catalog", CatalogSettings, Path(__file__).parent / "migrations", build_app)
