"""Dialog case (gimp-3.0 under Xvfb), run after batch_common.py by test_dialog.py.

The INTERACTIVE call blocks on the plug-in's dialog until the test presses Return; the values it ran
with become GIMP's last values, which the WITH_LAST_VALS call then reuses without a dialog.
"""

source, knobs = job["source"], job["knobs"]
restore_case("interactive", source, job["outputs"]["interactive"], run_mode="INTERACTIVE", **knobs)
restore_case("last_vals", source, job["outputs"]["last_vals"], run_mode="WITH_LAST_VALS")
finish()
