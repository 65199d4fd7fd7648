"""kubegate.cli."""
