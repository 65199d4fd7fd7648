"""kubegate.policies."""
