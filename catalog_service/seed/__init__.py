"""The catalog seeder: `python -m catalog_service.seed [--reset] [--products N] [--seed S]`."""
