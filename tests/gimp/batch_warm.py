"""The warm worker inside one GIMP session (gimp-console-3.0), run after batch_common.py by test_warm.py.

Two calls on the same image (the first starts the worker and loads the model, the second finds both warm), then a
long call that the test cancels the way GIMP's Cancel does (it kills the plug-in process), then an estimate.
"""

import time


def timed_call(name, image, procedure=RESTORE, **properties):
    start = time.monotonic()
    out, values = call(procedure, image, **properties)
    results[name] = {"call": out, "seconds": time.monotonic() - start}
    if out["status"] == "success" and procedure == RESTORE:
        values.index(1).delete()  # the new image; headless, nothing displays it


image = load(job["source"])
knobs = {"auto_noise": False, "noise": 0.4, "auto_blur": False, "blur": 0.6, "tile_size": job["tile"],
         "model": job["model"]}
timed_call("first", image, **knobs)
timed_call("second", image, **knobs)
before = state(image)
open(job["cancel_marker"], "w").write("calling")
timed_call("cancelled", image, **{**knobs, "tile_size": 16})
results["cancelled"]["source_before"], results["cancelled"]["source_after"] = before, state(image)
timed_call("after_cancel", image, ESTIMATE, model=job["model"])
finish()
