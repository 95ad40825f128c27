"""Command functions behind the ``claims`` CLI that need no broker (pure file work)."""
