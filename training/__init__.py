"""The MM-RealSR training pipeline: degradation synthesis, losses, two-stage trainer."""
