"""Print the figures of a benchmarks/run-bench.sh run (its output directory) as Markdown tables
with the ratios. Usage: python3 benchmarks/report.py .build/bench
"""

import glob
import json
import os
import re
import sys

TASK_LINE = re.compile(r"^(.+?) -{2,} (\d+\.\d+)s$")


def load(out, name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def text(out, name):
    path = os.path.join(out, name)
    return open(path).read().strip() if os.path.exists(path) else ""


def ratio(a, b, fmt="%.2f"):
    if a is None or b is None or not b:
        return "-"
    return fmt % (float(a) / float(b))


def num(v, fmt="%.1f"):
    return "-" if v is None else fmt % v


def profile(log_path):
    """(task, seconds) from the profile_tasks summary at the end of an ansible-playbook log."""
    if not os.path.exists(log_path):
        return []
    tasks = []
    in_summary = False
    for line in open(log_path):
        line = line.rstrip("\n")
        if line.startswith("====="):
            in_summary = True
            continue
        if in_summary:
            m = TASK_LINE.match(line)
            if m:
                tasks.append((m.group(1).strip(), float(m.group(2))))
    return tasks


def by_role(tasks):
    sums = {}
    for name, sec in tasks:
        role = name.split(" : ", 1)[0] if " : " in name else "(play tasks, facts)"
        if name.startswith("Gathering Facts"):
            role = "(fact gathering)"
        sums[role] = sums.get(role, 0.0) + sec
    return sorted(sums.items(), key=lambda kv: -kv[1])


def median_run(out, second):
    """The median of the no-op runs (deploy-second*.json) and how the row names them: all of them
    must have changed nothing, so the one reported carries the highest changed count."""
    runs = [second] + [d for d in (load(out, "deploy-second-%d.json" % n) for n in (2, 3)) if d]
    if len(runs) == 1:
        return second, ""
    seconds = sorted(d["seconds"] for d in runs)
    median = dict(seconds=seconds[len(seconds) // 2], changed=max(d["changed"] for d in runs))
    return median, " (median of %d: %s s)" % (len(runs), ", ".join(str(d["seconds"]) for d in runs))


def main(out):
    p = print
    wall = load(out, "wall.json")
    p("## Stack benchmarks (%s)\n" % out)
    machine = text(out, "machine.txt")
    if machine:
        p("```\n%s\nload before: %s\nload after:  %s\nCPU reference (a 10M-step Python loop, s; lower is faster): "
          "%s before, %s after\n```\n" % (machine, text(out, "load-before.txt"), text(out, "load-after.txt"),
                                         text(out, "cpu-before.txt") or "?", text(out, "cpu-after.txt") or "?"))

    first, second = load(out, "deploy-first.json"), load(out, "deploy-second.json")
    linear = load(out, "deploy-second-linear.json")
    local = load(out, "local-second.json")
    cfirst, csecond = load(out, "compose-first.json"), load(out, "compose-second.json")

    def changed(d):
        return "changed=%s%s" % (d["changed"], "" if d["changed"] == 0 else ", NOT IDEMPOTENT")

    if first:
        p("### 1. Deployment (images present)\n")
        p("Ansible with the repository's defaults (ansible.cfg: Mitogen, pipelining) unless the row says otherwise.\n")
        p("| | Ansible `site.yml` | peer | ratio | goal |")
        p("| --- | --- | --- | --- | --- |")
        p("| bare host -> healthy stack | %s s (changed=%s) | docker-compose %s s | %s | <= 2.5 |" % (
            first["seconds"], first["changed"], cfirst["seconds"] if cfirst else "-",
            ratio(first["seconds"], cfirst and cfirst["seconds"])))
        if second:
            noop, runs = median_run(out, second)
            p("| second run, nothing to change%s | %s s (%s) | docker-compose %s s | %s | under 20 s |" % (
                runs, noop["seconds"], changed(noop), csecond["seconds"] if csecond else "-",
                ratio(noop["seconds"], csecond and csecond["seconds"])))
        if linear and second:
            p("| the same with Ansible's linear strategy (ANSIBLE_STRATEGY=linear) | %s s (%s) | | "
              "default / linear %s | <= 0.4 |" % (linear["seconds"], changed(linear),
                                                  ratio(noop["seconds"], linear["seconds"])))
        if local:
            p("| local stage (mlflow_server role, SQLite), second run | %s s (%s) | | | under 15 s |" % (
                local["seconds"], changed(local)))
        p("")
        profiles = {}
        for label in ("first", "second", "second-linear"):
            path = os.path.join(out, "deploy-%s.log" % label)
            tasks = profile(path)
            if not tasks:
                continue
            recap = ""
            for line in open(path):
                m = re.search(r"ok=(\d+)\s+changed=(\d+).*skipped=(\d+)", line)
                if m:
                    recap = "ok=%s changed=%s skipped=%s" % m.groups()
            profiles[label] = (tasks, recap)
        if profiles:
            labels = list(profiles)
            roles = {label: dict(by_role(tasks)) for label, (tasks, _) in profiles.items()}
            names = sorted({r for d in roles.values() for r in d}, key=lambda r: -roles[labels[0]].get(r, 0))
            p("Seconds per role (profile_tasks; %s):\n" % "; ".join(
                "%s run %s" % (label, recap) for label, (_, recap) in profiles.items()))
            p("| role | %s |" % " | ".join("%s run" % label for label in labels))
            p("| --- | %s |" % " | ".join("---" for _ in labels))
            for r in names:
                p("| %s | %s |" % (r, " | ".join("%.1f" % roles[label].get(r, 0) for label in labels)))
            p("| all tasks | %s |" % " | ".join("%.1f" % sum(s for _, s in profiles[label][0]) for label in labels))
            p("")
        for label, (tasks, _) in profiles.items():
            p("| slowest tasks, %s run | s |" % label)
            p("| --- | --- |")
            for name, sec in sorted(tasks, key=lambda t: -t[1])[:10]:
                p("| %s | %.1f |" % (name.replace("|", "/"), sec))
            p("")

    writes = {}
    for path in glob.glob(os.path.join(out, "writes-*-*.json")):
        _, stage, n = os.path.basename(path)[:-5].split("-")
        writes[(stage, int(n))] = load(out, os.path.basename(path))
    if writes:
        p("### 2. Concurrent tracking writes\n")
        sample = next(iter(writes.values()))
        p("Each client: %d runs x (create_run, log_batch of %d params, %d metrics in log_batch calls of %d, "
          "set_terminated). Latency per request; client retries off.\n" % (
              sample["runs_per_client"], sample["params_per_run"], sample["metrics_per_run"], sample["batch"]))
        p("| N | SQLite req/s | p50 ms | p99 ms | max ms | failed | 'locked' in log | PostgreSQL+Nginx req/s | "
          "p50 ms | p99 ms | max ms | failed | req/s PG/SQLite | p99 SQLite/PG |")
        p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for n in sorted({n for _, n in writes}):
            s, g = writes.get(("sqlite", n)), writes.get(("postgres", n))

            def cols(d):
                if not d:
                    return ["-"] * 5
                return [num(d["req_per_s"]), num(d["p50_ms"], "%.0f"), num(d["p99_ms"], "%.0f"),
                        num(d["max_ms"], "%.0f"), "%d/%d" % (d["failed"], d["requests"])]
            row = [str(n)] + cols(s) + [str(s.get("server_log_database_locked", "-")) if s else "-"] + cols(g)
            row += [ratio(g and g["req_per_s"], s and s["req_per_s"]), ratio(s and s["p99_ms"], g and g["p99_ms"])]
            p("| " + " | ".join(row) + " |")
        errs = {k: v["errors"] for k, v in writes.items() if v.get("errors")}
        if errs:
            p("\nErrors: %s" % json.dumps({"%s N=%d" % k: v for k, v in errs.items()}))
        p("\nlog_batch p99 (ms), SQLite / PostgreSQL: %s\n" % ", ".join(
            "N=%d %s / %s" % (n, num(writes[("sqlite", n)]["by_op"]["log_batch"]["p99_ms"], "%.0f"),
                              num(writes[("postgres", n)]["by_op"]["log_batch"]["p99_ms"], "%.0f"))
            for n in sorted({n for _, n in writes}) if ("sqlite", n) in writes and ("postgres", n) in writes))

    ss, sp = load(out, "search-sqlite.json"), load(out, "search-postgres.json")
    if ss or sp:
        fs, fp = load(out, "fill-sqlite.json"), load(out, "fill-postgres.json")
        d = ss or sp
        p("### 4. search_runs (`%s`, order by `%s`, max_results %d, %d repetitions)\n" % (
            d["filter"], d["order_by"], d["max_results"], d["repeat"]))
        p("| backend (path) | runs | bulk insert | median ms | p95 ms | get_experiment median ms |")
        p("| --- | --- | --- | --- | --- | --- |")
        for label, s, f in (("SQLite (local stage, direct)", ss, fs), ("PostgreSQL (production, via Nginx)", sp, fp)):
            if s:
                p("| %s | %d | %s s | %s | %s | %s |" % (label, s["runs_in_experiment"], f and f["insert_s"],
                                                       s["median_ms"], s["p95_ms"], s["baseline_get_experiment_median_ms"]))
        if ss and sp:
            p("\nRatio SQLite / PostgreSQL: median %s, p95 %s; net of the per-request path cost "
              "(get_experiment): median %s.\n" % (
                  ratio(ss["median_ms"], sp["median_ms"]), ratio(ss["p95_ms"], sp["p95_ms"]),
                  ratio(ss["median_ms"] - ss["baseline_get_experiment_median_ms"],
                        sp["median_ms"] - sp["baseline_get_experiment_median_ms"])))

    ap, ad = load(out, "artifacts-proxied.json"), load(out, "artifacts-direct.json")
    apre = load(out, "artifacts-presigned.json")
    idle = load(out, "mem-idle.json")
    if ap or ad:
        d = ap or ad
        p("### 3. Artifacts (%d MiB file)\n" % d["size_mib"])
        p("MLflow container memory idle: %s MiB (usage - inactive file, as docker stats), %s MiB RSS.\n" % (
            idle and idle["stats_mib"], idle and idle["rss_mib"]))
        p("| mode | upload MiB/s | download MiB/s | MLflow peak MiB during upload (stats / RSS) | "
          "during download (stats / RSS) | sha256 ok |")
        p("| --- | --- | --- | --- | --- | --- |")
        for label, x in (("default (presigned): client -> Nginx -> S3, signed by MLflow", apre),
                         ("proxied only: Nginx -> MLflow -> S3", ap), ("direct: client -> S3", ad)):
            if x:
                up, down = x.get("upload_peak_mem_mib", {}), x.get("download_peak_mem_mib", {})
                p("| %s | %s (%s s) | %s (%s s) | %s / %s | %s / %s | %s |" % (
                    label, x["upload_mib_s"], x["upload_s"], x["download_mib_s"], x["download_s"],
                    up.get("stats_mib", "-"), up.get("rss_mib", "-"), down.get("stats_mib", "-"),
                    down.get("rss_mib", "-"), x["sha256_ok"]))
        if apre and ad:
            growth = max(apre.get("upload_peak_mem_mib", {}).get("stats_mib", 0),
                         apre.get("download_peak_mem_mib", {}).get("stats_mib", 0)) - (idle or {}).get("stats_mib", 0)
            p("\nRatio default (presigned) / direct: upload %s, download %s (goal >= 0.9x); MLflow memory "
              "growth %s MiB (goal <= 100).\n" % (
                  ratio(apre["upload_mib_s"], ad["upload_mib_s"]), ratio(apre["download_mib_s"], ad["download_mib_s"]),
                  round(growth, 1) if idle else "-"))
        if ap and ad:
            p("\nRatio proxied only / direct: upload %s, download %s.\n" % (
                ratio(ap["upload_mib_s"], ad["upload_mib_s"]), ratio(ap["download_mib_s"], ad["download_mib_s"])))
    if wall:
        p("Wall time of the whole run: %dm%02ds." % (wall["seconds"] // 60, wall["seconds"] % 60))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".build/bench")
