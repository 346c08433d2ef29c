"""The packaged default models mmrealsr-x4-v3 and -v2: a shared estimator step, one distillation config per
version, and the command that runs them (run.py)."""
