#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Adds up the results of every test stage and prints the closing line `N passed, N failed, N skipped`.

Inputs: meson testlog.json files (one JSON object per line), pytest JUnit XML files, and a
"steps" file where run-all.sh records stages that are not test runners (builds, format check)
as lines "<PASS|FAIL|SKIP> <name> [reason]".
"""
import json
import sys
import xml.etree.ElementTree as ET


def meson_results(path, label):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                t = json.loads(line)
                res = t.get("result", "")
                if res in ("OK", "EXPECTEDFAIL"):
                    state = "pass"
                elif res == "SKIP":
                    state = "skip"
                else:
                    state = "fail"
                out.append((state, f"{label}:{t.get('name')}", res))
    except FileNotFoundError:
        out.append(("fail", f"{label}:testlog", "missing (did the build fail?)"))
    return out


def junit_results(path, label):
    out = []
    try:
        root = ET.parse(path).getroot()
    except (FileNotFoundError, ET.ParseError) as e:
        return [("fail", f"{label}:junit", f"unreadable: {e}")]
    for case in root.iter("testcase"):
        name = f"{label}:{case.get('classname')}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            out.append(("fail", name, "failed"))
        elif case.find("skipped") is not None:
            msg = case.find("skipped").get("message", "")
            out.append(("skip", name, msg))
        else:
            out.append(("pass", name, ""))
    return out


def step_results(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) < 2:
                    continue
                state = {"PASS": "pass", "FAIL": "fail", "SKIP": "skip"}.get(parts[0], "fail")
                out.append((state, f"step:{parts[1]}", parts[2] if len(parts) > 2 else ""))
    except FileNotFoundError:
        pass
    return out


def main(argv):
    results = []
    for arg in argv[1:]:
        kind, _, rest = arg.partition("=")
        label, _, path = rest.partition(":")
        if kind == "meson":
            results += meson_results(path, label)
        elif kind == "junit":
            results += junit_results(path, label)
        elif kind == "steps":
            results += step_results(path)
    failed = [r for r in results if r[0] == "fail"]
    skipped = [r for r in results if r[0] == "skip"]
    passed = [r for r in results if r[0] == "pass"]
    for r in skipped:
        print(f"SKIP {r[1]}: {r[2]}")
    for r in failed:
        print(f"FAIL {r[1]}: {r[2]}")
    print(f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
