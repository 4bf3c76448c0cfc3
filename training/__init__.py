"""Training and periodic-job scripts (thin: they call graphdet library functions)."""
