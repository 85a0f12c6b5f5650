#!/usr/bin/env python3
"""Table, ratios, target check and chart for scripts/bench.sh. Usage: report.py WORK_DIR."""
import csv
import os
import sys

work = sys.argv[1]
with open(os.path.join(work, "results.tsv")) as f:
    rows = {r["scenario"]: r for r in csv.DictReader(f, delimiter="\t")}
with open(os.path.join(work, "memory.tsv")) as f:
    memory = dict(line.rstrip("\n").split("\t") for line in f if "\t" in line)
machine = open(os.path.join(work, "machine.txt")).read().strip()

LABELS = {
    "floor": "floor: NGINX `return 200`",
    "floor_half": "floor at half its rate",
    "a": "(a) authgate, one token (cache hit)",
    "a_half": "(a) at half that rate",
    "b": "(b) authgate, 10k distinct tokens, no cache",
    "b_half": "(b) at half that rate",
    "c": "(c) authgate, bad signatures",
    "c_half": "(c) at half that rate",
    "c1": "(c1) authgate, one bad-signature token reused",
    "envoy_b": "Envoy jwt_authn, (b) tokens, no JWT cache",
    "envoy_a": "Envoy jwt_authn, (a) token, JWT cache on",
    "d_noauth": "(d) NGINX proxy, no auth",
    "d_auth": "(d) NGINX auth_request + authgate",
}


def rps(name):
    return float(rows[name]["rps"])


def p99(name):
    return float(rows[name]["p99_ms"])


# (c) is all 401 by design; every other run must be all 2xx and error-free to count.
problems = []
for name, r in rows.items():
    if int(r["errors"]) > 0:
        problems.append(f"{name}: {r['errors']} socket errors")
    if name.startswith("c"):
        continue
    if int(r["non_2xx"]) > 0:
        problems.append(f"{name}: {r['non_2xx']} non-2xx answers")

cached = min(float(memory.get("cache_misses", 0) or 0), 100_000)
checks = [
    ("(a) >= 0.9 x NGINX floor", rps("a") / rps("floor"), 0.9, "x"),
    ("(b) >= 1.5 x Envoy jwt_authn", rps("b") / rps("envoy_b"), 1.5, "x"),
    ("(c) >= 1.0 x (a)", rps("c") / rps("a"), 1.0, "x"),
    ("(c1) one bad token reused >= 1.0 x (a)", rps("c1") / rps("a"), 1.0, "x"),
    ("(d) >= 0.5 x NGINX without auth", rps("d_auth") / rps("d_noauth"), 0.5, "x"),
]
upper = [
    ("(a) p99 at half rate <= 1 ms", p99("a_half"), 1.0, "ms"),
    ("(b) p99 at half rate <= 1 ms", p99("b_half"), 1.0, "ms"),
    ("(c) p99 at half rate <= 1 ms", p99("c_half"), 1.0, "ms"),
    (f"RSS with {cached:,.0f} cached decisions <= 64 MiB", float(memory["peak_rss_mib"]), 64.0, "MiB"),
]

out = []
out.append(machine)
out.append("")
out.append("| run | server | requests/s | p50 ms | p99 ms | peak RSS MiB |")
out.append("|---|---|---:|---:|---:|---:|")
for name, label in LABELS.items():
    if name in rows:
        r = rows[name]
        out.append(
            f"| {label} | {r['server']} | {float(r['rps']):,.0f} | {float(r['p50_ms']):.3f} | "
            f"{float(r['p99_ms']):.3f} | {r['peak_rss_mib']} |"
        )
out.append("")
out.append("| target | measured | holds |")
out.append("|---|---:|---|")
for label, value, bound, unit in checks:
    out.append(f"| {label} | {value:.2f} {unit} | {'yes' if value >= bound else f'NO ({value / bound:.0%} of it)'} |")
for label, value, bound, unit in upper:
    out.append(f"| {label} | {value:.3f} {unit} | {'yes' if value <= bound else f'NO ({value / bound:.1f} x the bound)'} |")
out.append("")
out.append(
    f"memory run: RSS {memory['base_rss_mib']} MiB at start, {memory['rss_mib']} MiB after, peak "
    f"{memory['peak_rss_mib']} MiB; decision-cache misses {memory['cache_misses']}, hits {memory['cache_hits']}"
)
if problems:
    out.append("")
    out.append("INVALID RUNS: " + "; ".join(problems))
text = "\n".join(out)
print(text)
with open(os.path.join(work, "report.md"), "w") as f:
    f.write(text + "\n")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

order = [n for n in ["floor", "a", "c", "c1", "b", "envoy_b", "envoy_a", "d_noauth", "d_auth"] if n in rows]
short = {
    "floor": "NGINX\nfloor",
    "a": "(a)\ncached",
    "b": "(b)\nuncached",
    "c": "(c)\nbad sig",
    "c1": "(c1)\n1 bad sig",
    "envoy_b": "Envoy\n(b)",
    "envoy_a": "Envoy\n(a)+cache",
    "d_noauth": "(d) NGINX\nno auth",
    "d_auth": "(d) NGINX\n+authgate",
}
colors = ["#1f77b4" if rows[n]["server"].startswith("authgate") or n == "d_auth" else "#999999" for n in order]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
ax1.bar([short[n] for n in order], [rps(n) / 1000 for n in order], color=colors)
ax1.set_ylabel("thousand requests/s (max rate)")
ax1.set_title("Throughput, one server core")
half = [n for n in ["floor_half", "a_half", "b_half", "c_half"] if n in rows]
ax2.bar(
    [short[n] for n in order] + [short[n[:-5]] + "\nhalf rate" for n in half],
    [p99(n) for n in order] + [p99(n) for n in half],
    color=colors + ["#2ca02c"] * len(half),
)
ax2.axhline(1.0, color="red", linewidth=1, linestyle="--")
ax2.set_ylabel("p99 latency, ms")
ax2.set_title("p99 at max rate (blue/grey) and at half rate (green; target 1 ms)")
for ax in (ax1, ax2):
    ax.tick_params(axis="x", labelsize=7)
fig.suptitle("authgate load benchmark — " + machine.splitlines()[0], fontsize=9)
fig.tight_layout()
fig.savefig(os.path.join(work, "bench.png"), dpi=110)
