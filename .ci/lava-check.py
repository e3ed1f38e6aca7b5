#!/usr/bin/python3
"""Checks zcsuite's LAVA jobs with Debian's lava-common and lava-dispatcher.

  check.py schema JOB.yaml...
      validates each job definition against LAVA's job schema
      (lava_common.schemas.validate, strict) and the device file
      harness/lava/qemu-x86_64.yaml against the device schema.

  check.py results JOB.log VERDICT.json JOB.yaml [RESULTS.yaml]
      compares what lava-run recorded for a zcsuite job (the results in
      its job log, the records a LAVA server stores as the job's results;
      written to RESULTS.yaml when given, and the result lines the guest
      printed) with a ./run.sh run's
      verdict.json on the same kernel: every non-destructive spec of the
      run must be a LAVA test case of the zcsuite suite, none other, with
      its ID (vmevent.ResultID) as the test case, the LAVA result zcsuite's outcome maps to (harness/lava.Results) and
      the same zcsuite outcome on its result line; the job must have
      passed. Exit 0 when they agree, 1 with each difference otherwise.
"""
import hashlib
import json
import os
import re
import sys

import yaml

# zcsuite outcome -> LAVA result: the table harness/lava.Results writes
# into every job's fixupdict; read back from the job so that there is one.
RESULT_LINE = re.compile(r"zcsuite-result: (\S+) (zc-[0-9a-f]{12}) (.+?)\s*$")


def result_id(spec):
    """vmevent.ResultID: the spec's test case ID in LAVA's results."""
    return "zc-" + hashlib.sha256(spec.encode()).hexdigest()[:12]


def schema(paths):
    from lava_common.schemas import validate
    from lava_common.schemas.device import validate as validate_device

    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    device = os.path.join(top, "harness", "lava", "qemu-x86_64.yaml")
    with open(device) as f:
        validate_device(yaml.safe_load(f))
    print(f"lava-check: {os.path.relpath(device)}: valid LAVA device configuration")
    for p in paths:
        with open(p) as f:
            validate(yaml.safe_load(f), strict=True)
        print(f"lava-check: {p}: valid LAVA job definition")
    return 0


def results(log_path, verdict_path, job_path, out_path=None):
    with open(job_path) as f:
        job = yaml.safe_load(f)
    fix = None
    for a in job["actions"]:
        for m in a.get("test", {}).get("monitors", []):
            if m["name"] == "zcsuite":
                fix = m["fixupdict"]
    lava, lines = [], {}
    with open(log_path) as f:
        for entry in f:
            try:
                e = json.loads(entry)
            except ValueError:
                # The dispatcher logs a non-ASCII console byte as \xNN,
                # which JSON does not know: read it as the character.
                try:
                    e = json.loads(re.sub(r"\\x([0-9A-Fa-f]{2})", r"\\u00\1", entry))
                except ValueError:
                    continue
            msg = e.get("msg")
            if e.get("lvl") == "results" and isinstance(msg, dict):
                lava.append(msg)
            elif e.get("lvl") == "target" and isinstance(msg, str):
                m = RESULT_LINE.search(msg)
                if m:
                    lines[m.group(3)] = (m.group(1), m.group(2))
    if out_path:
        with open(out_path, "w") as f:
            yaml.safe_dump(lava, f, allow_unicode=True)
    with open(verdict_path) as f:
        run = json.load(f)
    want = {}
    for r in run["runs"]:
        for s in r["verdict"]["specs"]:
            if "destructive" in (s.get("labels") or []):
                continue
            want[s["name"]] = s["outcome"]
    got, job_ok = {}, None
    for r in lava:
        if r.get("definition") == "lava" and r.get("case") == "job":
            job_ok = r.get("result")
        if not str(r.get("definition", "")).endswith("zcsuite"):
            continue
        got[r.get("extra", {}).get("test_case_id", r.get("case"))] = r.get("result")
    bad = []
    if job_ok != "pass":
        bad.append(f"the LAVA job result is {job_ok!r}, not pass")
    ids = {result_id(n): n for n in want}
    if len(ids) != len(want):
        bad.append("two specs share a result ID")
    for name, outcome in sorted(want.items()):
        rid = result_id(name)
        if rid not in got:
            bad.append(f"missing from LAVA's results: {rid} {name}")
        elif got[rid] != fix[outcome]:
            bad.append(f"{name}: LAVA {got[rid]}, ./run.sh {outcome} ({fix[outcome]})")
        if lines.get(name) != (outcome, rid):
            bad.append(f"{name}: result line {lines.get(name)}, ./run.sh {outcome}")
    for rid in sorted(set(got) - set(ids)):
        bad.append(f"in LAVA's results but not a non-destructive spec of the run: {rid}")
    for b in bad:
        print("lava-check: FAIL " + b)
    counts = {}
    for o in want.values():
        counts[o] = counts.get(o, 0) + 1
    summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    if bad:
        print(f"lava-check: {len(bad)} difference(s) between LAVA's results and ./run.sh")
        return 1
    print(f"lava-check: LAVA's results hold the run's {len(want)} non-destructive specs with the same outcomes ({summary})")
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "schema":
        return schema(argv[1:])
    if len(argv) in (4, 5) and argv[0] == "results":
        return results(*argv[1:])
    print("usage: check.py schema JOB.yaml... | check.py results JOB.log VERDICT.json JOB.yaml [RESULTS.yaml]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
