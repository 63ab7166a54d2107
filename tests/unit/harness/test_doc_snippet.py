# -*- coding: utf-8 -*-
"""molecule/shared/doc_snippet.py: the documented snippet is found, only its settings change,
and a documentation change that the test cannot follow is an error, not a silent pass."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def snippet(load_script):
    return load_script("molecule/shared/doc_snippet.py")


DOC = """# Title

```bash
echo not this one
```

## 7. Log a run

Some text.

```bash
export MLFLOW_TRACKING_URI=https://mlflow.example.com/mlflow/
export MLFLOW_TRACKING_PASSWORD='...'              # from the vault
# export REQUESTS_CA_BUNDLE=$PWD/mlflow.crt        # only with a self-signed certificate
python - <<'EOF'
print("hi")
EOF
```

```bash
echo later block
```
"""


def test_first_bash_block_after_the_line(snippet):
    block = snippet.extract_block(DOC, "Log a run")
    assert block.startswith("export MLFLOW_TRACKING_URI=")
    assert "later block" not in block and "not this one" not in block
    assert block.rstrip().endswith("EOF")


def test_only_the_named_exports_change(snippet):
    block = snippet.set_exports(snippet.extract_block(DOC, "Log a run"), {
        "MLFLOW_TRACKING_URI": "https://mlflow.molecule.test/mlflow/",
        "MLFLOW_TRACKING_PASSWORD": "pa ss'word",
        "REQUESTS_CA_BUNDLE": "/tmp/ca.crt",
    })
    lines = block.splitlines()
    assert lines[0] == "export MLFLOW_TRACKING_URI=https://mlflow.molecule.test/mlflow/"
    assert lines[1] == "export MLFLOW_TRACKING_PASSWORD='pa ss'\"'\"'word'"
    # the commented CA line is switched on, as the user does with a self-signed certificate
    assert lines[2] == "export REQUESTS_CA_BUNDLE=/tmp/ca.crt"
    assert lines[3:] == ["python - <<'EOF'", 'print("hi")', "EOF"]


@pytest.mark.parametrize("doc, after, sets, message", [
    (DOC, "Log a model", {}, "no line contains"),
    (DOC, "Some text", {"MLFLOW_S3_ENDPOINT_URL": "x"}, "does not export MLFLOW_S3_ENDPOINT_URL"),
    (DOC + "\nthe end\n", "the end", {}, "no bash block"),
    (DOC + "\nthe end\n```bash\necho open\n", "the end", {}, "not closed"),
])
def test_documentation_drift_is_an_error(snippet, doc, after, sets, message):
    with pytest.raises(snippet.DocMismatch, match=message):
        snippet.set_exports(snippet.extract_block(doc, after), sets)


def test_secrets_are_masked(snippet):
    block = snippet.set_exports("export MLFLOW_TRACKING_PASSWORD=x\n", {"MLFLOW_TRACKING_PASSWORD": "s3cr et"})
    assert "s3cr et" not in snippet.masked(block, ["s3cr et"])
    assert snippet.masked("Unauthorized for s3cr et", ["s3cr et"]) == "Unauthorized for ***"


def run_main(snippet, tmp_path, doc_text, *extra):
    doc = tmp_path / "doc.md"
    doc.write_text(doc_text)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"CHECK_PUBLIC_URL": "http://127.0.0.1:9/", "CHECK_PASSWORD": "pw"}))
    return snippet.main([str(settings), str(doc), "--after", "## Run", *extra, "--experiment", "demo"])


def test_a_failing_snippet_fails_the_check(snippet, tmp_path, capsys):
    rc = run_main(snippet, tmp_path, "## Run\n\n```bash\nexport MLFLOW_TRACKING_URI=http://x\n"
                  "python -c 'import sys; sys.exit(3)'\n```\n", "--set", "MLFLOW_TRACKING_URI=CHECK_PUBLIC_URL")
    assert rc == 1
    assert "failed (exit 3)" in capsys.readouterr().err


def test_a_changed_doc_is_exit_2(snippet, tmp_path, capsys):
    rc = run_main(snippet, tmp_path, "## Run\n\n```bash\nexport MLFLOW_URI=http://x\n```\n",
                  "--set", "MLFLOW_TRACKING_URI=CHECK_PUBLIC_URL")
    assert rc == 2
    assert "does not export MLFLOW_TRACKING_URI" in capsys.readouterr().err


@pytest.mark.parametrize("doc, after", [("README.md", "MLflow is up at http"), ("docs/production.md", "## 7. Log a run")])
def test_the_shipped_docs_have_the_snippets_the_scenarios_run(snippet, doc, after):
    block = snippet.extract_block((ROOT / doc).read_text(encoding="utf-8"), after)
    snippet.set_exports(block, {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5001"})
    assert "import mlflow" in block
