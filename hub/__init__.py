"""Hugging Face Hub integration: resolve, download, verify and push MM-RealSR models."""
