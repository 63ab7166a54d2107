#!/usr/bin/env python3
"""Run a documentation snippet as a user would, against a test stage, and read back its run.

    doc_snippet.py SETTINGS.json DOC.md --after TEXT [--set VAR=KEY ...] [--python PATH]
                   --experiment NAME

The first ```bash block after the first line of DOC.md that contains TEXT is the snippet, run
unchanged except for its `export VAR=...` lines named by --set (commented ones too, such as
`# export REQUESTS_CA_BUNDLE=...`): each becomes `export VAR=<value of KEY in SETTINGS.json>`,
so the stage's URL, password and CA are used where the user puts their own. A --set whose
variable the snippet no longer exports is an error (the documentation changed: update the test
with it). The block runs under `bash -eu -o pipefail` in an empty directory, `python` being the
client's interpreter (--python, default this one) and no MLFLOW_* setting inherited.

SETTINGS.json (0600, written by the scenario): the values for --set, and CHECK_IP / CHECK_PUBLIC_URL
when the public host name must resolve to the instance's address (it is then mapped in the
snippet's Python processes by a sitecustomize module, and in this one).

Afterwards the newest run of experiment NAME must have started after the snippet did; its
params, metrics and small artifacts (text under 4 KiB) are printed as the last line, JSON, for
the scenario to assert on. Secrets (values of keys named *PASSWORD* or *SECRET*) are never printed.
Exit codes: 0 ran and found the run, 1 the snippet or the read-back failed, 2 bad arguments or
the documentation no longer matches.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import CALLER_ENV_NAMES, CALLER_ENV_PREFIXES, load_settings, map_host  # noqa: E402

# The sitecustomize of the snippet's Python processes, beside a copy of checklib.py.
RESOLVER = '''\
# written by molecule/shared/doc_snippet.py: the stage's public name -> the instance
import os
from checklib import map_host
map_host(*os.environ["DOC_SNIPPET_RESOLVE"].split("=", 1))
'''


class DocMismatch(Exception):
    """The documentation no longer has what the test runs."""


def extract_block(text, after):
    """The first ```bash block after the first line containing `after`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if after in line), None)
    if start is None:
        raise DocMismatch(f"no line contains {after!r}")
    for i in range(start, len(lines)):
        if lines[i].strip() == "```bash":
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
            if end is None:
                raise DocMismatch(f"the bash block after {after!r} is not closed")
            return "\n".join(lines[i + 1:end]) + "\n"
    raise DocMismatch(f"no bash block after {after!r}")


def set_exports(block, values):
    """Replace each `export VAR=...` line (commented or not) of block for VAR in values."""
    out = block
    for var, value in values.items():
        pattern = re.compile(rf"^[ \t]*(?:#[ \t]*)?export[ \t]+{re.escape(var)}=.*$", re.MULTILINE)
        if not pattern.search(out):
            raise DocMismatch(f"the snippet does not export {var}")
        out = pattern.sub(lambda _m, v=var, x=value: f"export {v}={shlex.quote(x)}", out)
    return out


def masked(block, secrets):
    for secret in secrets:
        if secret:
            block = block.replace(shlex.quote(secret), "'***'").replace(secret, "***")
    return block


def parse_sets(items, settings):
    values = {}
    for item in items:
        var, sep, key = item.partition("=")
        if not sep or not var or key not in settings:
            raise SystemExit(f"--set {item}: want VAR=KEY with KEY in the settings file")
        values[var] = str(settings[key])
    return values


def read_back(values, experiment, started_ms):
    for var, value in values.items():
        os.environ[var] = value
    import mlflow  # pylint: disable=import-outside-toplevel

    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise RuntimeError(f"no experiment {experiment!r} after the snippet ran")
    runs = client.search_runs([exp.experiment_id], order_by=["attribute.start_time DESC"], max_results=1)
    if not runs or runs[0].info.start_time < started_ms:
        raise RuntimeError(f"no run in {experiment!r} started after the snippet did")
    run = runs[0]
    artifacts = {}
    for item in client.list_artifacts(run.info.run_id):
        if not item.is_dir and (item.file_size or 0) < 4096:
            with tempfile.TemporaryDirectory() as tmp:
                path = client.download_artifacts(run.info.run_id, item.path, tmp)
                artifacts[item.path] = Path(path).read_text(encoding="utf-8")
    return {"run_id": run.info.run_id, "status": run.info.status, "params": run.data.params,
            "metrics": run.data.metrics, "artifacts": artifacts}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings")
    ap.add_argument("doc")
    ap.add_argument("--after", required=True)
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--experiment", required=True)
    args = ap.parse_args(argv)

    settings = load_settings(args.settings)
    values = parse_sets(args.sets, settings)
    secrets = [str(v) for k, v in settings.items() if re.search("PASSWORD|SECRET", k)]
    try:
        block = set_exports(extract_block(Path(args.doc).read_text(encoding="utf-8"), args.after), values)
    except DocMismatch as exc:
        print(f"{args.doc}: {exc}; the documentation changed, change this test with it", file=sys.stderr)
        return 2

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(CALLER_ENV_PREFIXES) and k not in CALLER_ENV_NAMES and k != "PYTHONPATH"}
    env["PATH"] = f"{Path(args.python).parent}{os.pathsep}{env.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="doc-snippet-") as work:
        name = urlparse(settings.get("CHECK_PUBLIC_URL", "")).hostname
        if map_host(name, settings.get("CHECK_IP")):
            site = Path(work, ".site")
            site.mkdir()
            (site / "sitecustomize.py").write_text(RESOLVER, encoding="utf-8")
            shutil.copy(checklib.__file__, site / "checklib.py")
            env["PYTHONPATH"] = str(site)
            env["DOC_SNIPPET_RESOLVE"] = f"{name}={settings['CHECK_IP']}"
        started_ms = int(time.time() * 1000) - 1000
        proc = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", block], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        # the end of a traceback says what went wrong; its start is the same every time
        output = "\n".join(masked(proc.stdout + proc.stderr, secrets).splitlines()[-40:])
        if proc.returncode != 0:
            print(f"the snippet of {args.doc} failed (exit {proc.returncode}):\n{masked(block, secrets)}\n"
                  f"--- its output\n{output}", file=sys.stderr)
            return 1
    try:
        run = read_back(values, args.experiment, started_ms)
    except Exception as exc:  # pylint: disable=broad-except
        print(f"the snippet of {args.doc} ran, but: {masked(str(exc), secrets)}\n--- its output\n{output}",
              file=sys.stderr)
        return 1
    print(json.dumps({"doc": args.doc, "after": args.after, "python": args.python, "run": run}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
