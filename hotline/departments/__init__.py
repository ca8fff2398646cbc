"""departments domain."""
