#!/usr/bin/env python3
"""Turns bench/run.sh's results into one table: medians, ratios to ours, and the targets.

    report.py RESULTS.tsv OURS_NAME RUNS [--markdown-file BENCHMARKS.md]
"""
import datetime
import os
import platform
import statistics
import subprocess
import sys
from collections import OrderedDict

TARGETS = """\
Targets (issue 4): case 1 wall <= 0.85 x skopeo, <= 1.0 x crane, <= 1.15 x curl, CPU <= 0.5 x skopeo;
peak RSS <= 32 MiB in case 1 and within 10 % of that for 4 GiB (case 6); case 2 through the proxy
succeeds at <= 1.5 x the direct push (2b); case 3 <= 0.8 x skopeo; case 4 <= 1.0 x skopeo; case 5 sends
no layer bytes."""


def load(path):
    rows = OrderedDict()
    for line in open(path):
        case, tool, wall, user, sys_, rss, status, sent = (line.rstrip("\n").split("\t") + [""])[:8]
        r = rows.setdefault((case, tool), {"wall": [], "cpu": [], "rss": [], "ok": True, "sent": []})
        r["wall"].append(float(wall))
        r["cpu"].append(float(user) + float(sys_))
        r["rss"].append(int(rss) / 1024)
        r["ok"] = r["ok"] and status == "ok"
        if sent:
            r["sent"].append(int(sent))
    return rows


def table(rows, ours_name):
    med = {k: {m: statistics.median(v[m]) for m in ("wall", "cpu", "rss")} for k, v in rows.items()}
    out = ["| case | tool | wall s | CPU s | peak RSS MiB | wall / ours | CPU / ours | status |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for (case, tool), r in rows.items():
        m = med[(case, tool)]
        ours = med.get((case, "ours"))
        if ours and tool != "ours" and r["ok"] and rows[(case, "ours")]["ok"]:
            wr, cr = f"{m['wall'] / ours['wall']:.2f}", f"{m['cpu'] / max(ours['cpu'], 1e-3):.2f}"
        else:
            wr = cr = ""
        name = ours_name if tool == "ours" else tool
        status = "ok" if r["ok"] else "FAILED"
        if r["sent"]:
            status += f" (sent {statistics.median(r['sent']) / 2**20:.1f} MiB)"
        out.append(f"| {case} | {name} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss']:.1f} | {wr} | {cr} | {status} |")
    return "\n".join(out)


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    reg = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}; registry: {reg}"


def main():
    path, ours_name, runs = sys.argv[1], sys.argv[2], sys.argv[3]
    rows = load(path)
    text = table(rows, ours_name)
    if "--markdown-file" not in sys.argv:
        print(text)
        return
    target = sys.argv[sys.argv.index("--markdown-file") + 1]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open(target, "w") as f:
        f.write(f"""# Benchmarks

Last run: {now}, `make bench`, median of {runs} runs per cell, everything on one machine:
{machine()}.
The registry (CNCF distribution, TLS, htpasswd) and nginx run on 127.0.0.1 beside the clients, so
the registry's own CPU is part of every figure. Ratios are the peer's figure divided by ours
(above 1: we are faster or leaner). Peers that cannot do a case are shown FAILED, not hidden.

{text}

{TARGETS}

Cases: 1 cold push of 1 GiB in 8 incompressible layers; 2 one 2 GiB layer through nginx with
`client_max_body_size 16m` (2b: ours straight to the registry, for comparison); 3 200 layers of
256 KiB; 4 warm push of case 1 (everything already there); 5 case 1 to a second repository of
the same registry (a mount; skopeo mounts through its blob-info cache, crane and oras send the
bytes again); 6 4 GiB in 8 layers, ours only, for peak memory.
""")


if __name__ == "__main__":
    main()
