"""dialogs of the TUI."""
