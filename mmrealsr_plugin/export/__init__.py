"""Exporters that turn a loaded MM-RealSR network into files other runtimes can run."""
