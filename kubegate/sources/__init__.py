"""kubegate.sources."""
