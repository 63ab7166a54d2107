"""The prometheus role's alert rules and configuration, checked by Prometheus' own promtool.

templates/alerts.yml.j2 and prometheus.yml.j2 are rendered with ansible-core's Templar and the
role's defaults, then `promtool check rules` / `check config` read them, and `promtool test rules`
replays series against the rules: each alert fires when it should and stays quiet otherwise.
promtool comes from the PATH, else from the harness image mlops/prometheus:local (Debian's
prometheus package, scripts/build-images.sh prometheus); without either the tests are skipped.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "prometheus"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
IMAGE = "mlops/prometheus:local"


def _promtool():
    if shutil.which("promtool"):
        return ["promtool"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "image", "inspect", IMAGE], capture_output=True, check=False).returncode == 0:
        return None  # through docker, see _run
    return False


PROMTOOL = _promtool()
pytestmark = pytest.mark.skipif(PROMTOOL is False, reason="no promtool on PATH and no %s image" % IMAGE)


def _run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    if PROMTOOL:
        return subprocess.run(PROMTOOL + list(args), cwd=workdir, capture_output=True, text=True, check=False)
    return subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0", "-v", "%s:/w" % workdir,
                           "-w", "/w", "--entrypoint", "promtool", IMAGE] + list(args),
                          capture_output=True, text=True, check=False)


def render(template: str, **overrides) -> str:
    variables = {**DEFAULTS, "prometheus_scrape_jobs": [], "inventory_hostname": "mon1",
                 "ansible_managed": "test", **overrides}
    variables.update(yaml.safe_load((ROLE / "vars" / "main.yml").read_text()))
    variables["__prometheus_stack"] = {}
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template((ROLE / "templates" / template).read_text()))


@pytest.fixture()
def workdir(tmp_path):
    tmp_path.chmod(0o755)
    return tmp_path


def test_rules_pass_promtool(workdir):
    (workdir / "rules.yml").write_text(render("alerts.yml.j2"))
    result = _run(workdir, "check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_config_passes_promtool(workdir):
    jobs = [{"job": "mlflow", "metrics_path": "/metrics", "targets": [{"target": "127.0.0.1:5001", "host": "a"}]},
            {"job": "postgres", "metrics_path": "/metrics", "targets": [{"target": "10.0.0.10:9187", "host": "db"}]}]
    text = render("prometheus.yml.j2", prometheus_scrape_jobs=jobs, prometheus_alertmanagers=["10.0.0.9:9093"],
                  prometheus_extra_scrape_configs=[{"job_name": "node", "static_configs": [{"targets": ["a:9100"]}]}])
    (workdir / "prometheus.yml").write_text(text)
    result = _run(workdir, "check", "config", "--syntax-only", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(text)
    assert [job["job_name"] for job in config["scrape_configs"]] == ["prometheus", "mlflow", "postgres", "node"]
    assert config["scrape_configs"][2]["static_configs"] == [{"targets": ["10.0.0.10:9187"], "labels": {"host": "db"}}]


# promtool's rule unit tests: 1m samples; `for:` durations of the rules (2m, 1m, 10m) decide when they fire.
RULE_TESTS = {
    "rule_files": ["rules.yml"],
    "evaluation_interval": "1m",
    "tests": [
        {   # 10 % of MLflow's requests fail: above the 5 % default -> fires after 10 minutes
            "interval": "1m",
            "input_series": [
                {"series": 'mlflow_http_request_total{job="mlflow",host="a",instance="a:5001",method="GET",status="200"}',
                 "values": "0+90x30"},
                {"series": 'mlflow_http_request_total{job="mlflow",host="a",instance="a:5001",method="POST",status="503"}',
                 "values": "0+10x30"},
                {"series": 'up{job="postgres",host="db",instance="db:9187"}', "values": "1 1 1 0 0 0 0 0"},
                {"series": 'pg_up{job="postgres",host="db",instance="db:9187"}', "values": "1 0 0 0 0"},
                {"series": 'nginx_up{job="nginx",host="a",instance="a:9113"}', "values": "1x10"},
            ],
            "alert_rule_test": [
                {"eval_time": "8m", "alertname": "MlflowHigh5xxRatio", "exp_alerts": []},
                {"eval_time": "20m", "alertname": "MlflowHigh5xxRatio",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "mlflow", "host": "a", "instance": "a:5001"},
                                 "exp_annotations": {
                                     "summary": "MLflow on a answers 10% of its requests with 5xx",
                                     "description": "More than 5.0% of MLflow's requests failed over 10 minutes"
                                                    " (503 often means PostgreSQL is down)."}}]},
                {"eval_time": "4m", "alertname": "TargetDown", "exp_alerts": []},
                {"eval_time": "6m", "alertname": "TargetDown",
                 "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "postgres", "host": "db",
                                                "instance": "db:9187"},
                                 "exp_annotations": {
                                     "summary": "postgres on db (db:9187) cannot be scraped",
                                     "description": "The MLflow server, an exporter or Prometheus itself has not"
                                                    " answered for 2 minutes."}}]},
                {"eval_time": "3m", "alertname": "PostgresDown",
                 "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "postgres", "host": "db",
                                                "instance": "db:9187"},
                                 "exp_annotations": {
                                     "summary": "PostgreSQL on db does not answer its exporter",
                                     "description": "postgres_exporter cannot log in to PostgreSQL; MLflow answers"
                                                    " 503 meanwhile."}}]},
                {"eval_time": "5m", "alertname": "NginxDown", "exp_alerts": []},
            ],
        },
        {   # 2 % errors: below the threshold, no alert
            "interval": "1m",
            "input_series": [
                {"series": 'mlflow_http_request_total{job="mlflow",host="a",instance="a:5001",status="200"}',
                 "values": "0+98x30"},
                {"series": 'mlflow_http_request_total{job="mlflow",host="a",instance="a:5001",status="500"}',
                 "values": "0+2x30"},
                {"series": 'pg_stat_activity_count{job="postgres",host="db",instance="db:9187",state="idle"}',
                 "values": "90x30"},
                {"series": 'pg_settings_max_connections{job="postgres",host="db",instance="db:9187"}', "values": "100x30"},
            ],
            "alert_rule_test": [
                {"eval_time": "25m", "alertname": "MlflowHigh5xxRatio", "exp_alerts": []},
                {"eval_time": "25m", "alertname": "PostgresConnectionsNearLimit",
                 "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "postgres", "host": "db",
                                                "instance": "db:9187"},
                                 "exp_annotations": {
                                     "summary": "PostgreSQL on db uses 90% of max_connections",
                                     "description": "Every MLflow server holds up to workers x (pool size + overflow)"
                                                    " connections; raise postgres_settings.max_connections or lower"
                                                    " the pools."}}]},
            ],
        },
    ],
}


def test_rules_fire_when_they_should(workdir):
    (workdir / "rules.yml").write_text(render("alerts.yml.j2"))
    (workdir / "tests.yml").write_text(yaml.safe_dump(RULE_TESTS))
    result = _run(workdir, "test", "rules", "tests.yml")
    assert result.returncode == 0, result.stdout + result.stderr
