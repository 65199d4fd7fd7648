"""kubegate.compile."""
