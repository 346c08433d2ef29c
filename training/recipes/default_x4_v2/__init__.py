"""The packaged default model mmrealsr-x4-v2: two configs and the command that runs them (run.py)."""
