"""data of the TUI."""
