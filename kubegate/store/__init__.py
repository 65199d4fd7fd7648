"""kubegate.store."""
