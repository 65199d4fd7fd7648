"""kubegate.observability."""
