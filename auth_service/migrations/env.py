"""Alembic environment: delegates to the shared runner."""

from farmlokal_common.migrations import run_env

run_env()
