"""categories domain."""
