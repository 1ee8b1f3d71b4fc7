"""Bleed matrix, contact sheets and exports computed from the catalog."""
