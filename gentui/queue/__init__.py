"""Sweeps -> jobs, the serial per-backend worker, and recovery after a crash."""
