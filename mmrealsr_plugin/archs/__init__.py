"""Network architectures, one folder each."""
