"""kubegate.admin."""
