#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Resolves the Termina root's Debian package closure from the local apt lists (offline).

Usage: resolve-packages.py PACKAGES-FILE EXCLUDE-FILE [EXTRA-PACKAGE...]
Prints "name version arch" lines, sorted. Depends and Pre-Depends are followed (first installable
alternative; virtual packages through their first provider); Recommends are not.
"""

import re
import subprocess
import sys


def read_list(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def show(names):
    """apt-cache show for the candidate version of each name; returns {name: fields}."""
    out = subprocess.run(["apt-cache", "show", "--no-all-versions", *names],
                         capture_output=True, text=True)
    recs = {}
    for block in out.stdout.split("\n\n"):
        fields = {}
        key = None
        for line in block.splitlines():
            if line.startswith(" ") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            recs.setdefault(fields["Package"], fields)
    return recs


def providers(name):
    out = subprocess.run(["apt-cache", "showpkg", name], capture_output=True, text=True).stdout
    m = re.search(r"^Reverse Provides: *\n((?:.+\n?)*)", out, re.M)
    if not m:
        return []
    return [l.split()[0] for l in m.group(1).splitlines() if l.strip()]


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: resolve-packages.py PACKAGES EXCLUDE [EXTRA...]")
    wanted = read_list(sys.argv[1]) + sys.argv[3:]
    exclude = set(read_list(sys.argv[2]))
    done = {}
    queue = list(dict.fromkeys(wanted))
    while queue:
        batch = [n for n in dict.fromkeys(queue) if n not in done and n not in exclude]
        queue = []
        if not batch:
            break
        recs = show(batch)
        for name in batch:
            rec = recs.get(name)
            if rec is None:
                prov = [p for p in providers(name) if p not in exclude]
                if not prov:
                    sys.exit(f"resolve-packages: no installable package for '{name}' (apt-get update?)")
                queue.append(prov[0])
                done[name] = None
                continue
            done[name] = rec
            deps = ", ".join(x for x in (rec.get("Pre-Depends"), rec.get("Depends")) if x)
            for clause in filter(None, (c.strip() for c in deps.split(","))):
                alts = [a.strip().split()[0].split(":")[0] for a in clause.split("|")]
                if any(a in exclude for a in alts):
                    continue
                if any(a in done or a in queue for a in alts):
                    continue
                queue.append(alts[0])
    for name in sorted(n for n, r in done.items() if r is not None):
        r = done[name]
        print(name, r["Version"], r["Architecture"])


if __name__ == "__main__":
    main()
