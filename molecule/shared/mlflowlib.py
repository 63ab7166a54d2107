"""The MLflow side of the client scripts' shared code (the test venv: mlflow, pandas; boto3 for S3).

Import it after checklib.stock_client and checklib.map_host have set up the process, as the
scripts do with mlflow itself:

    from mlflowlib import AddN, connect, log_add_model, predict  # noqa: E402
"""
import os
import sys
import tempfile

import cloudpickle
import mlflow
import mlflow.pyfunc
import pandas as pd
from checklib import sha256

# What a logged model asks for where it is served.
PIP_REQUIREMENTS = ["mlflow-skinny==" + mlflow.__version__, "pandas"]


class AddN(mlflow.pyfunc.PythonModel):
    """A tiny pyfunc model: adds n to every value."""

    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input + self.n


# Pickled by value, as a class a user defines in their own script is: loading the model needs
# no molecule/shared on sys.path.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def connect(url):
    """The tracking URI of this process (fluent API) and a client of the same server."""
    mlflow.set_tracking_uri(url)
    return mlflow.MlflowClient(url)


def log_add_model(n, registered_model_name):
    """AddN(n) logged as "model" of the active run and registered; returns the ModelInfo."""
    return mlflow.pyfunc.log_model(name="model", python_model=AddN(n), pip_requirements=PIP_REQUIREMENTS,
                                   registered_model_name=registered_model_name)


def predict(model_uri, values):
    """What the pyfunc model at model_uri answers for the column x = values, as a list."""
    model = mlflow.pyfunc.load_model(model_uri)
    return list(model.predict(pd.DataFrame({"x": values}))["x"])


def metric_history(client, run_id, key):
    """A metric's history as [(step, value)], by step."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def artifact_digest(client, run_id, path):
    """(size, hex SHA-256) of a run's artifact, downloaded to a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return os.path.getsize(local), sha256(local)

