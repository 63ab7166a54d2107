"""The web UI in a real browser (Debian's Chromium driven by Playwright), as a user meets it.

    python browser_check.py SETTINGS.json --shots DIR [--expect-download-from presigned|tracking] [--no-auth]
                            [--via-localhost]

Logs a run (the real client, only URI/user/password/CA set) with two params, a metric over five
steps and a text artifact, and registers a model with a version from that run; then in Chromium
with the basic-auth login, page by page:
  experiments  the experiments list shows the experiment by name (a link in a table cell);
  run          the run's Overview shows both params, each name in the same table row as its value;
  metrics      the run's "Model metrics" tab draws the metric: a chart card titled with the metric's
               name holding a Plotly plot with a drawn line;
  artifact     the run's artifact page previews the text; the Download button saves the same bytes,
               from the object store published by Nginx (presigned, https) or from the tracking URL
               (mlflow_artifacts_presigned: false);
  models       the Models page, searched for the model's name, lists it with its version 1;
and over all of them: no console error and no uncaught exception in the page (blocked requests:
CORS, Host check, a wrong asset prefix), no request answering >= 400, except MLflow's probe of its
own auth app (/users/current: 404 without it, and the console line Chromium logs for that 404);
over https no request goes to plain http (mixed content); a wrong password gets 401.
Settings as artifacts_check.py. Without CHECK_USER/CHECK_PASSWORD (or with --no-auth: a stage
without basic auth, e.g. the local one) the login and the wrong-password check are left out; over
http the CA and the mixed-content check are; without CHECK_IP the name resolves as usual. The
Download is expected from presigned URLs when the settings have CHECK_S3_PUBLIC_URL, else from the
tracking URL, unless --expect-download-from says. The local stage (http://127.0.0.1:5001, no users):
settings {"CHECK_PUBLIC_URL": "http://127.0.0.1:5001/"}; --via-localhost reaches an http URL on
another machine through a relay on 127.0.0.1, as that machine's own user would (MLflow lets only
localhost and the configured public origin make the UI's POSTs). Every check runs (the Download after a
preview); a failing one, or a page with console errors or failed requests, saves a screenshot of
the page to DIR (browser-<page>[-errors]-<id>.png).
The public name resolves to CHECK_IP in this process and in the browser (--host-resolver-rules);
the browser accepts the self-signed certificate of the test (ignore_https_errors), everything
else is what a user's browser does.
Prints one JSON line; exit code 0 when every check passed.
"""
import argparse
import os
import random
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import finish, load_settings, map_host, seen, stock_client  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("settings")
parser.add_argument("--shots", required=True)
parser.add_argument("--expect-download-from", choices=["presigned", "tracking"], default=None,
                    help="default: presigned when the settings have CHECK_S3_PUBLIC_URL, else tracking")
parser.add_argument("--no-auth", action="store_true", help="the stage has no basic auth (ignore CHECK_USER/PASSWORD)")
parser.add_argument("--chromium", default="/usr/bin/chromium")
parser.add_argument("--via-localhost", action="store_true",
                    help="reach the server as a user on its own machine does: through http://127.0.0.1:PORT "
                         "(a TCP relay in this process to the settings' URL)")
args = parser.parse_args()
cfg = load_settings(args.settings)
PUBLIC = cfg["CHECK_PUBLIC_URL"]


def relay_from_localhost(url):
    """A TCP relay 127.0.0.1:<free port> -> the URL's host and port; returns the URL through it.
    The local stage's user opens http://127.0.0.1:5001: MLflow's security middleware lets a
    localhost origin write (the web UI's POSTs); an instance's address is another origin."""
    parts = urllib.parse.urlsplit(url)
    target = (parts.hostname, parts.port or 80)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        while True:
            client, _ = listener.accept()
            upstream = socket.create_connection(target, timeout=30)
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return urllib.parse.urlunsplit(("http", f"127.0.0.1:{listener.getsockname()[1]}", parts.path or "/", "", ""))


if args.via_localhost:
    if urllib.parse.urlsplit(PUBLIC).scheme != "http":
        sys.exit("--via-localhost: the settings' URL must be http://")
    PUBLIC = relay_from_localhost(PUBLIC)
BASE = PUBLIC.rstrip("/")
SPLIT = urllib.parse.urlsplit(PUBLIC)
NAME = SPLIT.hostname
HTTPS = SPLIT.scheme == "https"
AUTH = not args.no_auth and bool(cfg.get("CHECK_USER")) and bool(cfg.get("CHECK_PASSWORD"))
EXPECT = args.expect_download_from or ("presigned" if cfg.get("CHECK_S3_PUBLIC_URL") else "tracking")
S3_PUBLIC = (cfg.get("CHECK_S3_PUBLIC_URL") or "").rstrip("/")
stock_client(PUBLIC, cfg["CHECK_USER"] if AUTH else None, cfg["CHECK_PASSWORD"] if AUTH else None,
             cfg.get("CHECK_CA") if HTTPS else None)
RESOLVE = map_host(NAME, cfg.get("CHECK_IP"))

import mlflow  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

TIMEOUT = 60000  # ms per wait: only a failing check waits this long
AUTH_PROBE = "/ajax-api/2.0/mlflow/users/current"  # MLflow's probe of its auth app: 404 without it
ALLOWED_ERRORS = (AUTH_PROBE,)
seen.update({"auth": AUTH, "https": HTTPS, "expect_download_from": EXPECT, "seconds": {}})
problems = []
failed, console_errors, console_allowed, current = [], [], [], ["start"]
TAG = uuid.uuid4().hex[:8]
TEXT = f"hello from the browser check {uuid.uuid4().hex}\n"
EXPERIMENT = f"browser-{TAG}"
MODEL = f"browser-model-{TAG}"
# The UI shows a param that parses as JSON as the parsed value (0.81201600 as 0.812016): the number
# has no trailing zero, so it reads back as logged.
PARAMS = {"browser_check_lr": f"0.{random.randint(1, 9)}{random.randint(0, 99999):05d}{random.randint(1, 9)}",
          "browser_check_optimizer": f"adamw-{TAG}"}
METRIC, STEPS = "browser_check_loss", 5


def shoot(page, label):
    """A screenshot of the page as it is, into DIR; the file's path goes to seen."""
    try:
        os.makedirs(args.shots, exist_ok=True)
        shot = os.path.join(args.shots, f"browser-{label}-{uuid.uuid4().hex[:6]}.png")
        page.screenshot(path=shot, full_page=True)
        seen.setdefault("screenshots", []).append(shot)
    except Exception as exc:  # noqa: BLE001 - the check's own error matters more
        seen.setdefault("screenshots", []).append(f"{label}: no screenshot: {exc}")


def step(page, label, what, fn):
    """Runs one page's check; a failure becomes a problem with a screenshot, the next check runs.
    Failed requests and console errors are tagged with the page, which gets a screenshot too."""
    t0, errors = time.time(), len(failed) + len(console_errors)
    current[0] = label
    try:
        fn()
        if len(failed) + len(console_errors) > errors:
            shoot(page, f"{label}-errors")
        return True
    except Exception as exc:  # noqa: BLE001 - reported with a screenshot
        problems.append(f"{label}: {what}: {str(exc).splitlines()[0]}")
        shoot(page, label)
        return False
    finally:
        seen["seconds"][label] = round(time.time() - t0, 1)


t0 = time.time()
try:
    exp_id = mlflow.create_experiment(EXPERIMENT)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_params(PARAMS)
        for i in range(STEPS):
            mlflow.log_metric(METRIC, round(1.0 / (i + 1), 4), step=i)
        notes = os.path.join(tmp, "notes.txt")
        with open(notes, "w") as f:
            f.write(TEXT)
        mlflow.log_artifact(notes)
    RUN = run.info.run_id
    client = mlflow.MlflowClient()
    client.create_registered_model(MODEL, description="registered by molecule/shared/browser_check.py")
    version = client.create_model_version(MODEL, f"runs:/{RUN}/notes.txt", run_id=RUN).version
except Exception as exc:  # noqa: BLE001 - the client failed before any page: nothing to show in the browser
    finish(False, f"logging the run with the client: {type(exc).__name__}: {str(exc)[:500]}")
seen.update({"experiment": EXPERIMENT, "run": RUN, "model": f"{MODEL}/{version}"})
seen["seconds"]["log"] = round(time.time() - t0, 1)

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=args.chromium,
                                args=([f"--host-resolver-rules=MAP {NAME} {cfg['CHECK_IP']}"] if RESOLVE else [])
                                + ["--no-sandbox"])
    login = {"http_credentials": {"username": cfg["CHECK_USER"], "password": cfg["CHECK_PASSWORD"]}} if AUTH else {}
    if AUTH:
        # A wrong password: the basic-auth page, nothing of MLflow.
        ctx = browser.new_context(ignore_https_errors=True, http_credentials={
            "username": cfg["CHECK_USER"], "password": "wrong-" + uuid.uuid4().hex})
        response = ctx.new_page().goto(PUBLIC)
        seen["wrong_password"] = response.status
        ctx.close()
        if seen["wrong_password"] != 401:
            problems.append(f"wrong password got {seen['wrong_password']}")

    ctx = browser.new_context(**login, ignore_https_errors=True, accept_downloads=True)
    ctx.set_default_timeout(TIMEOUT)
    page = ctx.new_page()
    requests_made = []
    page.on("request", lambda r: requests_made.append(r.url))
    page.on("response", lambda r: failed.append(f"[{current[0]}] {r.status} {r.url.split('?')[0]}")
            if r.status >= 400 and not r.url.split("?")[0].endswith(ALLOWED_ERRORS) else None)

    def on_console(msg):
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        # Chromium's own line for MLflow's probe of its auth app answering 404 (allowed above): the
        # UI asks /users/current to learn whether basic-auth users exist and handles the 404 itself.
        # Only that URL and that status; the reason phrase differs by protocol ("(Not Found)", "()").
        if url.split("?")[0].endswith(AUTH_PROBE) and msg.text.startswith(
                "Failed to load resource: the server responded with a status of 404 "):
            console_allowed.append(msg.text[:120])
            return
        console_errors.append(f"[{current[0]}] {msg.text[:300]}" + (f" ({url})" if url else ""))

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console_errors.append(f"[{current[0]}] uncaught: {str(exc)[:300]}"))

    # The experiments list: newest first, so the experiment just created is on the first page.
    def experiments():
        page.goto(f"{BASE}/#/experiments")
        link = page.get_by_role("cell").get_by_role("link", name=EXPERIMENT, exact=True)
        link.wait_for()
        seen["experiments_list"] = link.get_attribute("href")
    step(page, "experiments", f"the experiments list does not show {EXPERIMENT}", experiments)

    # The run's Overview: each param's name and value in one row of the Parameters table.
    def params():
        page.goto(f"{BASE}/#/experiments/{exp_id}/runs/{RUN}")
        for key, value in PARAMS.items():
            name = page.get_by_role("cell", name=key, exact=True)
            name.scroll_into_view_if_needed()  # the table is below the fold: into the screenshot
            page.get_by_role("row").filter(has=name).get_by_role("cell", name=value, exact=True).wait_for()
        seen["params"] = list(PARAMS)
    step(page, "run", f"the run's overview does not show the params {PARAMS}", params)

    # The run's Model metrics tab, as a user clicks it: the metric's chart card with a drawn line.
    def metrics():
        page.get_by_role("tab", name="Model metrics", exact=True).click()
        card = page.get_by_test_id("experiment-view-compare-runs-card").filter(
            has=page.get_by_role("heading", name=METRIC, exact=True))
        line = card.locator(".js-plotly-plot svg.main-svg .scatterlayer .trace path.js-line").first
        line.wait_for()
        if not (line.get_attribute("d") or "").startswith("M"):
            raise AssertionError(f"the line of {METRIC} is empty")
        seen["metric_chart"] = {"metric": METRIC, "points": card.locator(".scatterlayer .point").count()}
    step(page, "metrics", f"no chart of {METRIC} on the run's Model metrics tab", metrics)

    # The artifact: the preview shows the text, the Download button saves the same bytes.
    def preview():
        page.goto(f"{BASE}/#/experiments/{exp_id}/runs/{RUN}/artifacts/notes.txt")
        page.get_by_text(TEXT.strip()).wait_for()
        seen["preview"] = True
    if step(page, "artifact", "the artifact preview did not show the text", preview):
        def download():
            # The download button of the artifact view (an icon button right of the file name).
            header = page.get_by_text("notes.txt", exact=True).last
            box = header.bounding_box()
            with page.expect_download() as download_info:
                # the icon button on the artifact header's row, at the right edge of the view
                buttons = [b for b in page.locator("button").all()
                           if (bb := b.bounding_box()) and box
                           and abs((bb["y"] + bb["height"] / 2) - (box["y"] + box["height"] / 2)) < 20
                           and bb["x"] > box["x"]]
                if not buttons:
                    raise AssertionError("no download button next to the artifact's name")
                max(buttons, key=lambda b: b.bounding_box()["x"]).click()
            dl = download_info.value
            target = os.path.join(tempfile.mkdtemp(), "download.txt")
            dl.save_as(target)
            with open(target) as f:
                same = f.read() == TEXT
            seen["download"] = {"from": dl.url.split("?")[0], "same": same, "name": dl.suggested_filename}
        step(page, "download", "the Download button", download)

    # The Models page, searched for the model as a user finds one among many: its row, version 1.
    def models():
        page.goto(f"{BASE}/#/models")
        search = page.get_by_placeholder("Search registered models")
        search.fill(MODEL)
        search.press("Enter")
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=MODEL, exact=True))
        try:
            row.get_by_role("link", name=f"Version {version}", exact=True).wait_for()
        except Exception:
            page.keyboard.press("Escape")  # MLflow's "new Model Registry UI" promotion: off the screenshot
            raise
        seen["models_list"] = f"{MODEL}/{version}"
    step(page, "models", f"the Models page does not list {MODEL} version {version}", models)

    seen["failed_requests"] = failed
    seen["console_errors"] = console_errors
    seen["console_errors_allowed"] = len(console_allowed)
    if HTTPS:
        seen["plain_http_requests"] = [u for u in requests_made if u.startswith("http:")]
    browser.close()

if "download" in seen:
    if not seen["download"]["same"]:
        problems.append("the downloaded file differs from the artifact")
    expected = S3_PUBLIC if EXPECT == "presigned" else BASE
    # the page's origin as the browser writes it: no default port
    port = f":{SPLIT.port}" if SPLIT.port and SPLIT.port != (443 if HTTPS else 80) else ""
    sources = [expected + "/"] + ([f"blob:{SPLIT.scheme}://{NAME}{port}/"] if EXPECT == "tracking" else [])
    if not expected or not seen["download"]["from"].startswith(tuple(sources)):
        problems.append(f"the download came from {seen['download']['from']}, "
                        f"expected {expected or 'CHECK_S3_PUBLIC_URL (not in the settings)'}")
s3_requests = [u for u in requests_made if S3_PUBLIC and u.startswith(S3_PUBLIC + "/")]
if EXPECT == "tracking" and s3_requests:
    problems.append(f"requests to the object store although presigned transfers are off: {s3_requests[:3]}")
if seen.get("plain_http_requests"):
    problems.append(f"plain http requests: {seen['plain_http_requests']}")
if failed:
    problems.append(f"failed requests: {failed}")
if console_errors:
    problems.append(f"console errors: {console_errors}")
seen["seconds"]["total"] = round(time.time() - t0, 1)
finish(not problems, "; ".join(problems) or None)
