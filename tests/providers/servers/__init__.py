"""Loopback servers that speak the ComfyUI, fal and Replicate protocols (see base.py)."""
