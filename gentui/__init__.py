"""gentui: run, browse and judge image-generation LoRA experiments from the terminal."""

__version__ = "0.1.0"
