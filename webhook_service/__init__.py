"""webhook_service package."""
