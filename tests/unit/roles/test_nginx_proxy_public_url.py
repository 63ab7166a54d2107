"""nginx_proxy_public_url: the role derives the site from one URL as the inventories did.

Before, inventories/prod, cloud-aws and cloud-azure each computed nginx_proxy_server_name,
_location, _tls_enabled, _https_port and _http_port from mlflow_public_url. The role's defaults do
it now from nginx_proxy_public_url, which the roles take from mlflow_public_url. Rendered with ansible-core's
Templar, the role's defaults must give the values the inventories' expressions gave, for every
URL shape, and the old defaults when no URL is set.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = yaml.safe_load((ROOT / "roles/nginx_proxy/defaults/main.yml").read_text())
DERIVED = ["nginx_proxy_server_name", "nginx_proxy_location", "nginx_proxy_tls_enabled",
           "nginx_proxy_https_port", "nginx_proxy_http_port"]
# The inventories' expressions before (inventories/*/group_vars/mlflow_production/main.yml).
INVENTORY_BEFORE = {
    "nginx_proxy_server_name": "{{ mlflow_public_url | urlsplit('hostname') }}",
    "nginx_proxy_location": "{{ (mlflow_public_url | urlsplit('path')) | regex_replace('/*$', '') ~ '/' }}",
    "nginx_proxy_tls_enabled": "{{ mlflow_public_url is match('https://') }}",
    "nginx_proxy_https_port": "{{ mlflow_public_url | urlsplit('port') or 443 }}",
    "nginx_proxy_http_port": "{{ 80 if mlflow_public_url is match('https://') else (mlflow_public_url | urlsplit('port') or 80) }}",
}
URLS = [
    "https://mlflow.example.com/mlflow/",
    "https://mlflow.example.com/mlflow",
    "https://mlflow.example.com/",
    "https://mlflow.example.com",
    "https://mlflow.example.com:8443/a/b/",
    "https://10.0.0.5//x//",
    "http://mlflow.example.com/",
    "http://mlflow.example.com:8080/mlflow/",
    "http://10.0.0.5:5080",
]


def _render(variables, names):
    templar = Templar(DataLoader(), variables=variables)
    return {name: templar.template(trust_as_template("{{ %s }}" % name)) for name in names}


def _after(url):
    variables = {name: trust_as_template(v) if isinstance(v, str) else v for name, v in DEFAULTS.items()}
    variables.update(inventory_hostname="web1", nginx_proxy_public_url=url)
    return _render(variables, DERIVED)


def _before(url):
    variables = {name: trust_as_template(v) if isinstance(v, str) else v for name, v in DEFAULTS.items()}
    variables.update({name: trust_as_template(expr) for name, expr in INVENTORY_BEFORE.items()})
    variables.update(inventory_hostname="web1", mlflow_public_url=url)
    return _render(variables, DERIVED)


@pytest.mark.parametrize("url", URLS)
def test_the_role_derives_what_the_inventories_did(url):
    before, after = _before(url), _after(url)
    assert {k: (type(v).__name__, str(v)) for k, v in after.items()} == \
           {k: (type(v).__name__, str(v)) for k, v in before.items()}


def test_examples():
    assert _after("https://mlflow.example.com/mlflow/") == {
        "nginx_proxy_server_name": "mlflow.example.com", "nginx_proxy_location": "/mlflow/",
        "nginx_proxy_tls_enabled": True, "nginx_proxy_https_port": 443, "nginx_proxy_http_port": 80}
    assert _after("http://m.example.com:8080/x") == {
        "nginx_proxy_server_name": "m.example.com", "nginx_proxy_location": "/x/",
        "nginx_proxy_tls_enabled": False, "nginx_proxy_https_port": 8080, "nginx_proxy_http_port": 8080}


def test_without_a_url_the_old_defaults_hold():
    assert _after("") == {"nginx_proxy_server_name": "web1", "nginx_proxy_location": "/",
                          "nginx_proxy_tls_enabled": False, "nginx_proxy_https_port": 443,
                          "nginx_proxy_http_port": 80}


def test_the_inventories_no_longer_compute_the_site():
    """They set mlflow_public_url only: the role takes it through the stack filter
    (tests/integration/test_stack_wiring.py checks the URL arrives)."""
    for inventory in ("prod", "cloud-aws", "cloud-azure"):
        text = (ROOT / "inventories" / inventory / "group_vars/mlflow_production/main.yml").read_text()
        assert "\nmlflow_public_url: https://" in text, inventory
        assert not [name for name in DERIVED + ["nginx_proxy_public_url"] if "\n" + name + ":" in text], inventory
