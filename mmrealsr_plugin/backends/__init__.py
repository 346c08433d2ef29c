"""Built-in backends, each an ordinary pluggy plugin."""
