"""Headless cases (gimp-console-3.0), run after batch_common.py by test_headless.py."""

for case in job["restore"]:
    replaced = case.get("replace_config")
    if replaced:
        original = open(replaced["path"]).read()
        with open(replaced["path"], "w") as handle:
            handle.write(replaced["text"])
    try:
        restore_case(case["name"], case["source"], case["output"], **case["options"])
    finally:
        if replaced:
            with open(replaced["path"], "w") as handle:
                handle.write(original)

for case in job["estimate"]:
    image = load(case["source"])
    out, _ = call(ESTIMATE, image)
    results[case["name"]] = {"call": out}

finish()
