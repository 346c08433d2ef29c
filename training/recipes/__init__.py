"""Scripted, seeded training recipes that produce specific artefacts (e.g. the default model)."""
