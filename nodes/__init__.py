"""Host front-ends: ComfyUI nodes and the GIMP 3 plug-in."""
