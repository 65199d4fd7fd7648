"""kubegate.model."""
