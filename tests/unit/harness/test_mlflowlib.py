# -*- coding: utf-8 -*-
"""molecule/shared/mlflowlib.py: the pyfunc model the scenarios log, and what reads runs back.

The model is logged for real (a local file store; no server in a unit test) and loaded back in
a fresh Python process that has no molecule/shared on its path: the class is pickled by value,
as a class in a user's own script is."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def mlflowlib(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "molecule" / "shared"))
    return importlib.import_module("mlflowlib")


def test_add_n(mlflowlib):
    pd = pytest.importorskip("pandas")
    out = mlflowlib.AddN(2).predict(None, pd.DataFrame({"x": [1.0, 2.0]}))
    assert list(out["x"]) == [3.0, 4.0]


def test_metric_history_by_step(mlflowlib):
    history = [SimpleNamespace(step=2, value=0.3), SimpleNamespace(step=0, value=1.0), SimpleNamespace(step=1, value=0.5)]
    client = SimpleNamespace(get_metric_history=lambda run_id, key: history if (run_id, key) == ("r", "loss") else [])
    assert mlflowlib.metric_history(client, "r", "loss") == [(0, 1.0), (1, 0.5), (2, 0.3)]


def test_artifact_digest(mlflowlib, tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(b"x" * 1000)

    def download_artifacts(run_id, path, dst):
        target = Path(dst, path)
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read_bytes())
        return str(target)

    client = SimpleNamespace(download_artifacts=download_artifacts)
    size, digest = mlflowlib.artifact_digest(client, "r", "data/blob.bin")
    assert (size, digest) == (1000, mlflowlib.sha256(str(source)))


def test_log_a_model_and_load_it_without_the_harness(mlflowlib, tmp_path, monkeypatch):
    import mlflow  # pylint: disable=import-outside-toplevel

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    client = mlflowlib.connect(uri)
    assert mlflow.get_tracking_uri() == uri
    with mlflow.start_run():
        info = mlflowlib.log_add_model(3, "unit-model")
    assert info.registered_model_version == 1
    assert client.get_model_version("unit-model", "1").status == "READY"
    assert mlflowlib.predict("models:/unit-model/1", [1.0, 2.0]) == [4.0, 5.0]

    load = ("import json, sys, mlflow.pyfunc, pandas as pd; "
            "model = mlflow.pyfunc.load_model('models:/unit-model/1'); "
            "print(json.dumps([list(model.predict(pd.DataFrame({'x': [10.0]}))['x']), 'mlflowlib' in sys.modules]))")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_ALLOW_FILE_STORE": "true"}
    env.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, env=env, cwd=tmp_path,
                         check=True, timeout=300).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [[13.0], False]
