"""The packaged default models mmrealsr-x4-v4, -v3 and -v2: a shared estimator step, the distillation configs of
each version, the score calibration, and the command that runs them (run.py)."""
