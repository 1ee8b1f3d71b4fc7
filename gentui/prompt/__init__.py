"""Prompt specs (scene, characters, rule), their variants, and translation."""
