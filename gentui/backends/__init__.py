"""Generation backends (ComfyUI, mflux), workflow binding and the ComfyUI simulator."""
