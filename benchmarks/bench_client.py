"""Client side of the stack benchmarks (benchmarks/run-bench.sh): MLflow clients against a
running tracking server, printing one JSON document of figures.

  writes     N parallel client processes, each logging --runs-per-client runs: create_run,
             log_batch(params), log_batch(metrics) x ceil(metrics / batch), set_terminated.
             Requests/s, p50/p99/max latency, failed requests (retries off, so a failure is seen).
  search     search_runs(filter, order_by) latency over an experiment filled by fill_runs.py,
             plus a trivial request (get_experiment) on the same path as the baseline.
  experiment create (or get) an experiment and print its id.
  artifacts  upload and download one file of --size-mb through the server (proxied, the
             experiment's mlflow-artifacts:/ location) or straight to S3 (direct, an experiment
             with an s3:// location), sampling the MLflow container's memory from its cgroup.

Environment: MLFLOW_TRACKING_USERNAME/PASSWORD and REQUESTS_CA_BUNDLE (the proxy's self-signed
certificate), as a user sets them; nothing else about artifacts (the stock client's default path);
--resolve NAME=IP makes NAME resolve to IP inside this process (the public name of the stack).
"""

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import threading
import time

# Failures must show up as failures, not as latency hidden by the client's retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")


def install_resolve(spec):
    if not spec:
        return
    name, ip = spec.split("=", 1)
    orig = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return orig(ip if host == name else host, *args, **kwargs)

    socket.getaddrinfo = resolve


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def short_error(exc):
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, (text[0] if text else "")[:160])


# --------------------------------------------------------------------------- writes
def _writer(idx, args, exp_id, barrier, queue):
    install_resolve(args.resolve)
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(args.uri)
    records = []  # (op, seconds, ok, error)

    def call(op, fn, *a, **kw):
        t0 = time.perf_counter()
        try:
            out = fn(*a, **kw)
            records.append((op, time.perf_counter() - t0, True, None))
            return out, True
        except Exception as exc:  # noqa: BLE001 - every failure is counted
            records.append((op, time.perf_counter() - t0, False, short_error(exc)))
            return None, False

    barrier.wait()
    t_start = time.time()
    for r in range(args.runs_per_client):
        run, ok = call("create_run", client.create_run, exp_id, run_name="w%d-%d" % (idx, r))
        if not ok:
            continue
        run_id = run.info.run_id
        params = [Param("p%d" % p, str(p * 0.1)) for p in range(args.params)]
        call("log_batch", client.log_batch, run_id, params=params)
        now = int(time.time() * 1000)
        keys = max(1, args.metric_keys)
        metrics = [Metric("m%d" % (i % keys), (i * 7919 % 1000) / 1000.0, now + i, i // keys)
                   for i in range(args.metrics)]
        for b in range(0, len(metrics), args.batch):
            call("log_batch", client.log_batch, run_id, metrics=metrics[b:b + args.batch])
        call("set_terminated", client.set_terminated, run_id)
    queue.put((idx, t_start, time.time(), records))


def cmd_writes(args):
    install_resolve(args.resolve)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(args.uri)
    name = "%s-n%d" % (args.experiment, args.n)
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(args.n + 1)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(i, args, exp_id, barrier, queue)) for i in range(args.n)]
    for p in procs:
        p.start()
    barrier.wait()  # every client has imported MLflow and built its client
    t0 = time.time()
    results = [queue.get() for _ in procs]
    wall = time.time() - t0
    for p in procs:
        p.join()

    records = [rec for _, _, _, recs in results for rec in recs]
    ok = [sec for _, sec, good, _ in records if good]
    errors = {}
    for _, _, good, err in records:
        if not good:
            errors[err] = errors.get(err, 0) + 1
    by_op = {}
    for op in ("create_run", "log_batch", "set_terminated"):
        lat = [sec for o, sec, good, _ in records if good and o == op]
        by_op[op] = {"count": len(lat), "p50_ms": _ms(pct(lat, 50)), "p99_ms": _ms(pct(lat, 99)),
                     "max_ms": _ms(max(lat) if lat else None)}
    out = {
        "n": args.n, "requests": len(records), "ok": len(ok), "failed": len(records) - len(ok),
        "wall_s": round(wall, 2), "req_per_s": round(len(ok) / wall, 1) if wall else None,
        "metric_rows_per_s": round(args.n * args.runs_per_client * args.metrics / wall, 0),
        "p50_ms": _ms(pct(ok, 50)), "p99_ms": _ms(pct(ok, 99)), "max_ms": _ms(max(ok) if ok else None),
        "by_op": by_op, "errors": errors,
        "runs_per_client": args.runs_per_client, "metrics_per_run": args.metrics,
        "batch": args.batch, "params_per_run": args.params,
    }
    print(json.dumps(out))


def _ms(sec):
    return None if sec is None else round(sec * 1000.0, 1)


# --------------------------------------------------------------------------- search
def cmd_experiment(args):
    install_resolve(args.resolve)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(args.uri)
    exp = client.get_experiment_by_name(args.experiment)
    if exp:
        print(exp.experiment_id)
    else:
        print(client.create_experiment(args.experiment, artifact_location=args.artifact_location or None))


def cmd_search(args):
    install_resolve(args.resolve)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(args.uri)
    exp = client.get_experiment_by_name(args.experiment)
    ids = [exp.experiment_id]

    def timed(fn, reps, warmup):
        for _ in range(warmup):
            fn()
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return out

    found = {}

    def search():
        runs = client.search_runs(ids, filter_string=args.filter, order_by=[args.order_by],
                                  max_results=args.max_results)
        found["n"] = len(runs)

    total = {}

    def count_all():
        # How many runs the experiment holds (pages of 1000 run ids, no metrics needed).
        n, token = 0, None
        while True:
            page = client.search_runs(ids, max_results=1000, page_token=token)
            n += len(page)
            token = page.token
            if not token:
                return n

    total["runs"] = count_all()
    lat = timed(search, args.repeat, args.warmup)
    base = timed(lambda: client.get_experiment(ids[0]), args.repeat, args.warmup)
    print(json.dumps({
        "runs_in_experiment": total["runs"], "returned": found.get("n"), "filter": args.filter,
        "order_by": args.order_by, "max_results": args.max_results, "repeat": args.repeat,
        "median_ms": _ms(statistics.median(lat)), "p95_ms": _ms(pct(lat, 95)),
        "min_ms": _ms(min(lat)), "baseline_get_experiment_median_ms": _ms(statistics.median(base)),
    }))


# --------------------------------------------------------------------------- artifacts
class MemSampler(threading.Thread):
    """Samples a cgroup v1 memory directory (or v2) every interval: peak of usage minus inactive
    file pages (what `docker stats` shows), of RSS (anonymous memory) and of raw usage."""

    def __init__(self, cgdir, interval=0.25):
        super().__init__(daemon=True)
        self.cgdir, self.interval = cgdir, interval
        self.stop_evt = threading.Event()
        self.peak = {"stats_mib": 0.0, "rss_mib": 0.0, "usage_mib": 0.0}
        self.samples = 0

    def read(self):
        stat = {}
        with open(os.path.join(self.cgdir, "memory.stat")) as fh:
            for line in fh:
                k, v = line.split()
                stat[k] = int(v)
        for name in ("memory.usage_in_bytes", "memory.current"):
            path = os.path.join(self.cgdir, name)
            if os.path.exists(path):
                with open(path) as fh:
                    usage = int(fh.read())
                break
        inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
        rss = stat.get("total_rss", stat.get("anon", 0))
        return usage - inactive, rss, usage

    def run(self):
        while not self.stop_evt.is_set():
            try:
                vals = self.read()
            except OSError:
                vals = None
            if vals:
                self.samples += 1
                for key, v in zip(("stats_mib", "rss_mib", "usage_mib"), vals):
                    self.peak[key] = max(self.peak[key], v / 1048576.0)
            self.stop_evt.wait(self.interval)

    def result(self):
        self.stop_evt.set()
        self.join()
        return {k: round(v, 1) for k, v in self.peak.items()}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def cmd_artifacts(args):
    install_resolve(args.resolve)
    import shutil
    import tempfile

    from mlflow.tracking import MlflowClient

    client = MlflowClient(args.uri)
    workdir = tempfile.mkdtemp(prefix="mlflow-bench-art-", dir=args.tmpdir)
    try:
        src = os.path.join(workdir, "blob.bin")
        size = args.size_mb * 1048576
        with open(src, "wb") as fh:
            left = size
            block = os.urandom(1 << 22)  # random bytes: nothing on the way can compress them
            while left > 0:
                fh.write(block[:min(left, len(block))])
                left -= len(block)
        digest = sha256(src)
        name = "%s-%s" % (args.experiment, args.mode)
        exp = client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            name, artifact_location=args.artifact_location or None)
        run_id = client.create_run(exp_id).info.run_id
        out = {"mode": args.mode, "size_mib": args.size_mb,
               "artifact_uri": client.get_run(run_id).info.artifact_uri}

        mem = MemSampler(args.cgroup) if args.cgroup else None
        if mem:
            mem.start()
        t0 = time.perf_counter()
        client.log_artifact(run_id, src)
        up = time.perf_counter() - t0
        if mem:
            out["upload_peak_mem_mib"] = mem.result()
            mem = MemSampler(args.cgroup)
            mem.start()
        dst = os.path.join(workdir, "down")
        os.mkdir(dst)
        t0 = time.perf_counter()
        path = client.download_artifacts(run_id, "blob.bin", dst)
        down = time.perf_counter() - t0
        if mem:
            out["download_peak_mem_mib"] = mem.result()
        out.update({
            "upload_s": round(up, 2), "upload_mib_s": round(args.size_mb / up, 1),
            "download_s": round(down, 2), "download_mib_s": round(args.size_mb / down, 1),
            "sha256_ok": sha256(path) == digest,
        })
        print(json.dumps(out))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def cmd_idle_mem(args):
    s = MemSampler(args.cgroup)
    vals = s.read()
    print(json.dumps({"stats_mib": round(vals[0] / 1048576.0, 1), "rss_mib": round(vals[1] / 1048576.0, 1)}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uri", required=False, help="tracking URI")
    ap.add_argument("--resolve", default="", help="NAME=IP: resolve NAME to IP in this process")
    sub = ap.add_subparsers(dest="cmd", required=True)

    w = sub.add_parser("writes")
    w.add_argument("--n", type=int, required=True)
    w.add_argument("--runs-per-client", type=int, default=4)
    w.add_argument("--metrics", type=int, default=300)
    w.add_argument("--metric-keys", type=int, default=10)
    w.add_argument("--batch", type=int, default=100)
    w.add_argument("--params", type=int, default=10)
    w.add_argument("--experiment", default="bench-writes")

    e = sub.add_parser("experiment")
    e.add_argument("--experiment", required=True)
    e.add_argument("--artifact-location", default="")

    s = sub.add_parser("search")
    s.add_argument("--experiment", default="bench-search")
    s.add_argument("--filter", default="metrics.m0 > 0.5")
    s.add_argument("--order-by", default="metrics.m1 DESC")
    s.add_argument("--max-results", type=int, default=100)
    s.add_argument("--repeat", type=int, default=20)
    s.add_argument("--warmup", type=int, default=3)

    a = sub.add_parser("artifacts")
    a.add_argument("--mode", choices=("proxied", "direct"), required=True)
    a.add_argument("--size-mb", type=int, default=1024)
    a.add_argument("--artifact-location", default="")
    a.add_argument("--experiment", default="bench-artifacts")
    a.add_argument("--cgroup", default="", help="cgroup memory directory of the MLflow container")
    a.add_argument("--tmpdir", default=None)

    m = sub.add_parser("idle-mem")
    m.add_argument("--cgroup", required=True)

    args = ap.parse_args(argv)
    {"writes": cmd_writes, "experiment": cmd_experiment, "search": cmd_search,
     "artifacts": cmd_artifacts, "idle-mem": cmd_idle_mem}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
