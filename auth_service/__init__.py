"""auth_service package."""
