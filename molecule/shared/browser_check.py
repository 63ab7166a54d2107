"""The web UI in a real browser (Debian's Chromium driven by Playwright), as a user meets it.

    python browser_check.py SETTINGS.json --shots DIR [--expect-download-from presigned|tracking]

Logs a run with a text artifact (the real client, only URI/user/password/CA set), then in Chromium
with the basic-auth login: the run's artifact page previews the text; the Download button saves the
same bytes, from the object store published by Nginx (presigned, https) or from the tracking URL
(mlflow_artifacts_presigned: false); no request of the page goes to plain http (mixed content) or
answers >= 400, except MLflow's probe of its own auth app (/users/current: 404 without it);
a wrong password gets 401. Settings as artifacts_check.py. Screenshots go to DIR on failure.
The public name resolves to CHECK_IP in this process and in the browser (--host-resolver-rules);
the browser accepts the self-signed certificate of the test (ignore_https_errors), everything
else is what a user's browser does.
Prints one JSON line; exit code 0 when every check passed.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import urllib.parse
import uuid

parser = argparse.ArgumentParser()
parser.add_argument("settings")
parser.add_argument("--shots", required=True)
parser.add_argument("--expect-download-from", choices=["presigned", "tracking"], default="presigned")
parser.add_argument("--chromium", default="/usr/bin/chromium")
args = parser.parse_args()
with open(args.settings) as f:
    cfg = json.load(f)
for name in list(os.environ):
    if name.startswith(("MLFLOW_", "AWS_")):
        del os.environ[name]
PUBLIC = cfg["CHECK_PUBLIC_URL"]
NAME = urllib.parse.urlsplit(PUBLIC).hostname
os.environ.update({"MLFLOW_TRACKING_URI": PUBLIC, "MLFLOW_TRACKING_USERNAME": cfg["CHECK_USER"],
                   "MLFLOW_TRACKING_PASSWORD": cfg["CHECK_PASSWORD"], "REQUESTS_CA_BUNDLE": cfg["CHECK_CA"]})
_getaddrinfo = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **kw: _getaddrinfo(cfg["CHECK_IP"] if host == NAME else host, *a, **kw)

import mlflow  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

ALLOWED_ERRORS = ("/ajax-api/2.0/mlflow/users/current",)  # MLflow's probe of its auth app
seen = {}
TEXT = f"hello from the browser check {uuid.uuid4().hex}\n"


def finish(ok, error=None, page=None):
    if page is not None and not ok:
        os.makedirs(args.shots, exist_ok=True)
        shot = os.path.join(args.shots, f"browser-{uuid.uuid4().hex[:6]}.png")
        page.screenshot(path=shot, full_page=True)
        seen["screenshot"] = shot
    print(json.dumps({"ok": ok, "seen": seen, **({"error": error} if error else {})}))
    sys.exit(0 if ok else 1)


exp_id = mlflow.create_experiment(f"browser-{uuid.uuid4().hex[:8]}")
with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(experiment_id=exp_id) as run:
    notes = os.path.join(tmp, "notes.txt")
    with open(notes, "w") as f:
        f.write(TEXT)
    mlflow.log_artifact(notes)

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=args.chromium,
                                args=[f"--host-resolver-rules=MAP {NAME} {cfg['CHECK_IP']}", "--no-sandbox"])
    # A wrong password: the basic-auth page, nothing of MLflow.
    ctx = browser.new_context(http_credentials={"username": cfg["CHECK_USER"], "password": "wrong-" + uuid.uuid4().hex},
                              ignore_https_errors=True)
    response = ctx.new_page().goto(PUBLIC)
    seen["wrong_password"] = response.status
    ctx.close()

    ctx = browser.new_context(http_credentials={"username": cfg["CHECK_USER"], "password": cfg["CHECK_PASSWORD"]},
                              ignore_https_errors=True, accept_downloads=True)
    page = ctx.new_page()
    requests_made, failed = [], []
    page.on("request", lambda r: requests_made.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url.split('?')[0]}")
            if r.status >= 400 and not r.url.split("?")[0].endswith(ALLOWED_ERRORS) else None)
    page.goto(f"{PUBLIC.rstrip('/')}/#/experiments/{exp_id}/runs/{run.info.run_id}/artifacts/notes.txt")
    try:
        page.get_by_text(TEXT.strip()).wait_for(timeout=60000)
        seen["preview"] = True
    except Exception as exc:  # noqa: BLE001 - reported with a screenshot
        finish(False, f"the artifact preview did not show the text: {exc}", page)
    # The download button of the artifact view (an icon button right of the file name).
    header = page.get_by_text("notes.txt", exact=True).last
    box = header.bounding_box()
    with page.expect_download(timeout=60000) as download_info:
        # the icon button on the artifact header's row, at the right edge of the view
        buttons = [b for b in page.locator("button").all()
                   if (bb := b.bounding_box()) and box and abs((bb["y"] + bb["height"] / 2) - (box["y"] + box["height"] / 2)) < 20
                   and bb["x"] > box["x"]]
        if not buttons:
            finish(False, "no download button next to the artifact's name", page)
        max(buttons, key=lambda b: b.bounding_box()["x"]).click()
    download = download_info.value
    target = os.path.join(tempfile.mkdtemp(), "download.txt")
    download.save_as(target)
    with open(target) as f:
        same = f.read() == TEXT
    seen["download"] = {"from": download.url.split("?")[0], "same": same, "name": download.suggested_filename}
    seen["plain_http_requests"] = [u for u in requests_made if u.startswith("http:")]
    seen["failed_requests"] = failed
    browser.close()

expected = cfg["CHECK_S3_PUBLIC_URL"] if args.expect_download_from == "presigned" else PUBLIC
problems = []
if seen["wrong_password"] != 401:
    problems.append(f"wrong password got {seen['wrong_password']}")
if not same:
    problems.append("the downloaded file differs from the artifact")
origin = f"{urllib.parse.urlsplit(PUBLIC).scheme}://{NAME}"
sources = [expected.rstrip("/") + "/"] + ([f"blob:{origin}"] if args.expect_download_from == "tracking" else [])
if not seen["download"]["from"].startswith(tuple(sources)):
    problems.append(f"the download came from {seen['download']['from']}, expected {expected}")
s3_requests = [u for u in requests_made if u.startswith(cfg["CHECK_S3_PUBLIC_URL"].rstrip("/") + "/")]
if args.expect_download_from == "tracking" and s3_requests:
    problems.append(f"requests to the object store although presigned transfers are off: {s3_requests[:3]}")
if seen["plain_http_requests"]:
    problems.append(f"plain http requests: {seen['plain_http_requests']}")
if failed:
    problems.append(f"failed requests: {failed}")
finish(not problems, "; ".join(problems) or None)
