"""catalog_service package."""
