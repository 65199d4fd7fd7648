"""kubegate.services."""
