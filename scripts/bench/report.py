#!/usr/bin/env python3
"""Table, ratios, target check and chart for scripts/bench.sh. Usage: report.py WORK_DIR.

Rows named NAME.rN are round N of an interleaved scenario (e): reported as the median of the rounds, and their
ratios as the median of the per-round ratios (each round's rows ran next to each other). A run with BENCH_ONLY=envoy
has no rows of the other scenarios and no memory run; only the targets whose rows exist are checked.
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

work = sys.argv[1]
with open(os.path.join(work, "results.tsv")) as f:
    rows = {r["scenario"]: r for r in csv.DictReader(f, delimiter="\t")}
memory = {}
if os.path.exists(os.path.join(work, "memory.tsv")):
    with open(os.path.join(work, "memory.tsv")) as f:
        memory = dict(line.rstrip("\n").split("\t") for line in f if "\t" in line)
cpu = defaultdict(dict)  # scenario -> process -> CPU microseconds per request
sys_cpu = defaultdict(dict)  # scenario -> process -> of which in the kernel
if os.path.exists(os.path.join(work, "cpu.tsv")):
    with open(os.path.join(work, "cpu.tsv")) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            cpu[r["scenario"]][r["process"]] = float(r["cpu_us_per_request"])
            if r.get("sys_us_per_request"):
                sys_cpu[r["scenario"]][r["process"]] = float(r["sys_us_per_request"])
machine = open(os.path.join(work, "machine.txt")).read().strip()

# Interleaved rounds: base name -> {round: row}.
rounds = defaultdict(dict)
for name, r in rows.items():
    base, sep, n = name.rpartition(".r")
    if sep and n.isdigit():
        rounds[base][int(n)] = r

def e_rows(base):
    """The rounds of an interleaved row, or the row itself when it ran once."""
    if base in rounds:
        return [rounds[base][n] for n in sorted(rounds[base])]
    return [rows[base]] if base in rows else []


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
    "b1k": "(b1k) authgate, 1k distinct tokens, no cache",
    "b1k_half": "(b1k) at half that rate",
    "h_b1k": "HAProxy jwt_verify, (b1k) tokens",
    "h_b1k_half": "HAProxy (b1k) at half its rate",
    "h_c": "HAProxy jwt_verify, (c) bad signatures",
    "h_c_half": "HAProxy (c) at half its rate",
    "envoy_b": "Envoy jwt_authn, (b) tokens, no JWT cache",
    "envoy_a": "Envoy jwt_authn, (a) token, JWT cache on",
    "d_noauth": "(d) NGINX proxy, no auth",
    "d_auth": "(d) NGINX auth_request + authgate",
}


def rps(name):
    if name not in rows and e_rows(name):
        return statistics.median(float(r["rps"]) for r in e_rows(name))
    return float(rows[name]["rps"])


def p99(name):
    if name not in rows and e_rows(name):
        return statistics.median(float(r["p99_ms"]) for r in e_rows(name))
    return float(rows[name]["p99_ms"])


# (c) and HAProxy's (c) rows are all 401 by design; every other run must be all 2xx and error-free to count.
problems = []
for name, r in rows.items():
    if int(r["errors"]) > 0:
        problems.append(f"{name}: {r['errors']} socket errors")
    if name.startswith("c") or name.startswith("h_c"):
        continue
    if int(r["non_2xx"]) > 0:
        problems.append(f"{name}: {r['non_2xx']} non-2xx answers")

def have(*names):
    return all(e_rows(n) for n in names)


def ratio(num, den):
    """num/den by requests/s: the median of the per-round ratios when both ran in the same rounds, with the
    per-round values; otherwise the one ratio."""
    common = sorted(set(rounds.get(num, {})) & set(rounds.get(den, {})))
    if common:
        per_round = [float(rounds[num][n]["rps"]) / float(rounds[den][n]["rps"]) for n in common]
        return statistics.median(per_round), per_round
    return rps(num) / rps(den), []


def per_round(name, key):
    """The per-round values of a row (empty when it ran once)."""
    return [float(rounds[name][n][key]) for n in sorted(rounds[name])] if name in rounds else []


checks = []
upper = []
for label, num, den, bound in [
    ("(a) cached >= 1.0 x NGINX floor (issue 18)", "a", "floor", 1.0),
    ("(b1k) no cache >= 1.1 x HAProxy jwt_verify, 1k valid tokens", "b1k", "h_b1k", 1.1),
    ("(c) bad signatures >= 1.0 x HAProxy jwt_verify on them", "c", "h_c", 1.0),
    ("(b) >= 1.5 x Envoy jwt_authn", "b", "envoy_b", 1.5),
    ("(c) >= 1.0 x (a)", "c", "a", 1.0),
    ("(c1) one bad token reused >= 1.0 x (a)", "c1", "a", 1.0),
    ("(d) >= 0.5 x NGINX without auth", "d_auth", "d_noauth", 0.5),
]:
    if have(num, den):
        value, values = ratio(num, den)
        checks.append((label, value, bound, "x", values))
for label, name in [
    ("(a) p99 at half rate <= 1 ms", "a_half"),
    ("(b) p99 at half rate <= 1 ms", "b_half"),
    ("(c) p99 at half rate <= 1 ms", "c_half"),
]:
    if have(name):
        upper.append((label, p99(name), 1.0, "ms", per_round(name, "p99_ms")))
# Issue 18: at half of each maximum rate, p99 no worse than NGINX's own at half its maximum.
if have("floor_half"):
    for name in ["a_half", "b1k_half", "c_half"]:
        if have(name):
            upper.append(
                (f"{name} p99 <= NGINX floor_half p99 ({p99('floor_half'):.3f} ms)", p99(name), p99("floor_half"),
                 "ms", per_round(name, "p99_ms"))
            )
if memory:
    cached = min(float(memory.get("cache_misses", 0) or 0), 100_000)
    upper.append(
        (f"RSS with {cached:,.0f} cached decisions <= 64 MiB", float(memory["peak_rss_mib"]), 64.0, "MiB", [])
    )

# (e): per-round ratios, each against the row that ran beside it.
E_LABELS = {
    "e_direct": "Envoy direct response, no auth (the hop baseline)",
    "e_grpc": "authgate over gRPC ext_authz",
    "e_http": "authgate over HTTP ext_authz",
    "e_jwt": "Envoy jwt_authn, no JWT cache",
    "e_jwt_cache": "Envoy jwt_authn, JWT cache on",
    "e_grpc_nocache": "authgate over gRPC, decision cache off",
}
E_TARGETS = [
    ("gRPC >= 1.0 x HTTP ext_authz", "e_grpc", "e_http", 1.0),
    ("gRPC >= 1.2 x jwt_authn without cache", "e_grpc", "e_jwt", 1.2),
    ("gRPC >= 0.8 x jwt_authn with cache", "e_grpc", "e_jwt_cache", 0.8),
]


def e_cpu(base, process, table=cpu):
    """Median CPU microseconds per request of one process over an (e) row's rounds (None if not measured); with
    table=sys_cpu, the part of it spent in the kernel."""
    names = [f"{base}.r{n}" for n in sorted(rounds[base])] if base in rounds else [base]
    values = [table[n][process] for n in names if process in table.get(n, {})]
    return statistics.median(values) if values else None


e_ratios = []
for label, num, den, bound in E_TARGETS:
    common = sorted(set(rounds.get(num, {})) & set(rounds.get(den, {})))
    per_round = [float(rounds[num][n]["rps"]) / float(rounds[den][n]["rps"]) for n in common]
    # The same comparison when authgate has cores of its own (its own pod, as in a cluster): Envoy's core is then
    # the limit, and its capacity is inverse to Envoy's CPU per request.
    envoy_core = [
        cpu[f"{den}.r{n}"]["envoy"] / cpu[f"{num}.r{n}"]["envoy"]
        for n in common
        if "envoy" in cpu.get(f"{den}.r{n}", {}) and cpu[f"{num}.r{n}"].get("envoy")
    ]
    if per_round:
        e_ratios.append(
            (label, statistics.median(per_round), per_round, bound, statistics.median(envoy_core) if envoy_core else None)
        )

out = []
out.append(machine)
out.append("")
if any(e_rows(name) for name in LABELS):
    if any(name in rounds for name in LABELS):
        out.append(
            "Rows that ran in interleaved rounds show the median of the rounds, and in brackets each round's "
            "requests/s (thousands) or p99."
        )
        out.append("")
    out.append("| run | server | requests/s | p50 ms | p99 ms | peak RSS MiB |")
    out.append("|---|---|---:|---:|---:|---:|")
    for name, label in LABELS.items():
        rs = e_rows(name)
        if not rs:
            continue
        med = {k: statistics.median(float(r[k]) for r in rs) for k in ("rps", "p50_ms", "p99_ms", "peak_rss_mib")}
        rps_s, p99_s = f"{med['rps']:,.0f}", f"{med['p99_ms']:.3f}"
        if name in rounds:
            rps_s += " (" + ", ".join(f"{float(r['rps']) / 1000:.1f}" for r in rs) + ")"
            p99_s += " (" + ", ".join(f"{float(r['p99_ms']):.2f}" for r in rs) + ")"
        out.append(
            f"| {label} | {rs[0]['server']} | {rps_s} | {med['p50_ms']:.3f} | {p99_s} | {max(float(r['peak_rss_mib']) for r in rs):.1f} |"
        )
if checks or upper:
    out.append("")
    out.append("| target | measured (median of rounds) | per round | holds |")
    out.append("|---|---:|---|---|")
    for label, value, bound, unit, values in checks:
        held = f"; {sum(v >= bound for v in values)} of {len(values)} rounds" if values else ""
        out.append(
            f"| {label} | {value:.2f} {unit} | {', '.join(f'{v:.2f}' for v in values)} | "
            f"{'yes' if value >= bound else f'NO ({value / bound:.0%} of it)'}{held} |"
        )
    for label, value, bound, unit, values in upper:
        out.append(
            f"| {label} | {value:.3f} {unit} | {', '.join(f'{v:.2f}' for v in values)} | "
            f"{'yes' if value <= bound else f'NO ({value / bound:.1f} x the bound)'} |"
        )
# Issue 18's rows: the server core's CPU per request and how busy the core was at the row's maximum. A core under
# 100 % busy at the maximum means the load generator's core, not the server's, set that maximum.
SERVER_ROWS = ["floor", "a", "c", "b1k", "h_b1k", "h_c"]
if any(e_cpu(n, "server") is not None for n in SERVER_ROWS if n in rounds):
    out.append("")
    out.append(
        "Server core at each row's maximum: CPU per request (user + kernel, median of rounds; the kernel's part in "
        "brackets) and how busy the core was (CPU per request x requests/s); under 100 % busy, wrk's core set the maximum."
    )
    out.append("")
    out.append("| run | CPU µs per request | per round | core busy |")
    out.append("|---|---:|---|---:|")
    for n in SERVER_ROWS:
        if n not in rounds or e_cpu(n, "server") is None:
            continue
        per = [cpu[f"{n}.r{k}"]["server"] for k in sorted(rounds[n]) if "server" in cpu.get(f"{n}.r{k}", {})]
        busy = statistics.median(
            cpu[f"{n}.r{k}"]["server"] * float(rounds[n][k]["rps"]) / 1e6
            for k in sorted(rounds[n])
            if "server" in cpu.get(f"{n}.r{k}", {})
        )
        out.append(
            f"| {LABELS[n]} | {e_cpu(n, 'server'):.2f} ({e_cpu(n, 'server', sys_cpu):.2f}) | "
            f"{', '.join(f'{v:.2f}' for v in per)} | {busy:.0%} |"
        )
    if e_cpu("a", "server") is not None and e_cpu("floor", "server") is not None:
        out.append("")
        out.append(
            f"(a) per request on the server core: {e_cpu('a', 'server') / e_cpu('floor', 'server'):.2f} x NGINX "
            "`return 200`'s CPU."
        )
if memory:
    out.append("")
    out.append(
        f"memory run: RSS {memory['base_rss_mib']} MiB at start, {memory['rss_mib']} MiB after, peak "
        f"{memory['peak_rss_mib']} MiB; decision-cache misses {memory['cache_misses']}, hits {memory['cache_hits']}"
    )
if any(e_rows(n) for n in E_LABELS):
    base_cpu = None
    if e_cpu("e_direct", "envoy") is not None:
        base_cpu = e_cpu("e_direct", "envoy") + (e_cpu("e_direct", "authgate") or 0)
    out.append("")
    out.append(
        "(e) through Envoy: requests/s is the median of the rounds (each round's value after it); CPU is the time "
        "each process spent per request (user + system, all threads; in brackets the kernel's part, where measured), "
        "median of the rounds; 'auth cost' is the "
        "server core's CPU per request above the direct response's."
    )
    out.append("")
    out.append("| run | requests/s | per round | p50 ms | p99 ms | Envoy CPU µs | authgate CPU µs | auth cost µs |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|")
    for name, label in E_LABELS.items():
        rs = e_rows(name)
        if not rs:
            continue
        env, ag = e_cpu(name, "envoy"), e_cpu(name, "authgate")
        total = (env or 0) + (ag or 0)
        cost = f"{total - base_cpu:.1f}" if base_cpu is not None and env is not None else ""
        per_round = ", ".join("{:.1f}k".format(float(r["rps"]) / 1000) for r in rs)
        med = {k: statistics.median(float(r[k]) for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
        env_sys, ag_sys = e_cpu(name, "envoy", sys_cpu), e_cpu(name, "authgate", sys_cpu)
        env_s = "" if env is None else f"{env:.1f}" + ("" if env_sys is None else f" ({env_sys:.1f})")
        ag_s = "" if ag is None else f"{ag:.1f}" + ("" if ag_sys is None else f" ({ag_sys:.1f})")
        out.append(
            f"| {label} | {med['rps']:,.0f} | {per_round} | {med['p50_ms']:.3f} | {med['p99_ms']:.3f} | "
            f"{env_s} | {ag_s} | {cost} |"
        )
    out.append("")
    out.append(
        "| target (issue 13) | median of rounds | per round | holds | Envoy-core ratio (authgate on cores of its own) |"
    )
    out.append("|---|---:|---|---|---:|")
    for label, med, per_round, bound, envoy_core in e_ratios:
        held = sum(v >= bound for v in per_round)
        verdict = "yes" if med >= bound else f"NO ({med / bound:.0%} of it)"
        core = "" if envoy_core is None else f"{envoy_core:.2f} x"
        out.append(
            f"| {label} | {med:.2f} x | {', '.join(f'{v:.2f}' for v in per_round)} | {verdict}; "
            f"{held} of {len(per_round)} rounds | {core} |"
        )
if problems:
    out.append("")
    out.append("INVALID RUNS: " + "; ".join(problems))
text = "\n".join(out)
while "\n\n\n" in text:
    text = text.replace("\n\n\n", "\n\n")
print(text)
with open(os.path.join(work, "report.md"), "w") as f:
    f.write(text + "\n")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

order = [
    n
    for n in ["floor", "a", "c", "h_c", "c1", "b", "b1k", "h_b1k", "envoy_b", "envoy_a", "d_noauth", "d_auth", "e_direct", "e_grpc", "e_http",
              "e_jwt", "e_jwt_cache", "e_grpc_nocache"]
    if n in rows or e_rows(n)
]
short = {
    "floor": "NGINX\nfloor",
    "a": "(a)\ncached",
    "b": "(b)\nuncached",
    "c": "(c)\nbad sig",
    "c1": "(c1)\n1 bad sig",
    "b1k": "(b1k)\nuncached",
    "h_b1k": "HAProxy\n(b1k)",
    "h_c": "HAProxy\n(c)",
    "envoy_b": "Envoy\n(b)",
    "envoy_a": "Envoy\n(a)+cache",
    "d_noauth": "(d) NGINX\nno auth",
    "d_auth": "(d) NGINX\n+authgate",
    "e_direct": "(e) Envoy\ndirect",
    "e_grpc": "(e) Envoy\n+gRPC",
    "e_http": "(e) Envoy\n+HTTP",
    "e_jwt": "(e) jwt_authn\nno cache",
    "e_jwt_cache": "(e) jwt_authn\ncache",
    "e_grpc_nocache": "(e) gRPC\nno cache",
}


def server(n):
    return e_rows(n)[0]["server"] if n not in rows else rows[n]["server"]


colors = ["#1f77b4" if "authgate" in server(n) else "#999999" for n in order]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 4.8))
ax1.bar([short[n] for n in order], [rps(n) / 1000 for n in order], color=colors)
ax1.set_ylabel("thousand requests/s (max rate)")
ax1.set_title("Throughput, one server core")
half = [n for n in ["floor_half", "a_half", "b_half", "c_half"] if e_rows(n)]
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
