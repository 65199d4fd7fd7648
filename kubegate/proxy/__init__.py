"""kubegate.proxy."""
