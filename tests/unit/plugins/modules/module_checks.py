# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks the module tests share, on top of module_harness (which runs main() in-process).

A module's documentation against its argument spec (what ansible-test sanity's validate-modules checks):

    class TestDocumentation(DocumentationTests):
        module = pgloader_migrate
        no_log = ("pg_password",)

documentation(module) is DOCUMENTATION with this collection's doc fragments merged in
(extends_documentation_fragment), as ansible-doc shows it.

The modules that talk to MLflow's basic-auth app (mlflow_user, mlflow_permission), against FakeMlflow:

    fake = auth_fake(monkeypatch, api="rbac")  # exit_json/fail_json raise; open_url answered by FakeMlflow
    result = run_auth_module(module, fake, secrets, check_mode=False, diff=False, **args)
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import yaml
from ansible.utils.plugin_docs import merge_fragment

from ansible_collections.mlops.mlflow.plugins.module_utils import mlflow_auth as ma
from ansible_collections.mlops.mlflow.tests.unit.plugins.module_utils.test_mlflow_auth import (
    ADMIN,
    ADMIN_PASSWORD,
    FakeMlflow,
)
from ansible_collections.mlops.mlflow.tests.unit.plugins.modules.module_harness import doc_blocks, patch_exits, run_main

COLLECTION = "mlops.mlflow"

# ---------------------------------------------------------------------------------------------
# Documentation
# ---------------------------------------------------------------------------------------------


def documentation(module):
    """The module's DOCUMENTATION as YAML data, with the options and attributes of the doc fragments of
    this collection it extends merged in the way ansible-doc merges them."""
    doc = doc_blocks(module)["DOCUMENTATION"]
    for name in doc.pop("extends_documentation_fragment", []):
        assert name.startswith(COLLECTION + "."), name
        fragment_module = importlib.import_module(
            "ansible_collections.mlops.mlflow.plugins.doc_fragments." + name[len(COLLECTION) + 1:])
        fragment = yaml.safe_load(fragment_module.ModuleDocFragment.DOCUMENTATION)
        for key in ("options", "attributes"):
            if key in fragment:
                merge_fragment(doc.setdefault(key, {}), fragment.pop(key))
        merge_fragment(doc, fragment)
    return doc


class DocumentationTests(object):
    """A module's documentation against its argument spec (what ansible-test sanity's validate-modules
    checks). A test file subclasses it as Test...; `module` is the module, `no_log` the options that
    must have no_log, `full_support` the attributes with support: full."""

    module = None
    no_log = ()
    full_support = ("check_mode",)

    def name(self):
        return self.module.__name__.rsplit(".", 1)[1]

    def check_example(self, args):
        """More checks of one EXAMPLES task's arguments."""

    def test_module_file_basics(self):
        text = Path(self.module.__file__).read_text()
        assert text.startswith("#!/usr/bin/python\n")
        assert "print(" not in text
        assert set(doc_blocks(self.module)) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}

    def test_documentation_matches_argument_spec(self):
        doc = documentation(self.module)
        assert doc["module"] == self.name()
        options = doc["options"]
        spec = self.module.argument_spec()
        assert set(options) == set(spec)
        for option, arg in spec.items():
            o = options[option]
            assert o["type"] == arg["type"], option
            assert o.get("default") == arg.get("default"), option
            assert o.get("choices") == arg.get("choices"), option
            assert bool(o.get("required")) == bool(arg.get("required")), option
            assert o["description"], option
        for option in self.no_log:
            assert spec[option]["no_log"] is True, option
        for attribute in self.full_support:
            assert doc["attributes"][attribute]["support"] == "full", attribute

    def test_examples_use_the_fqcn_and_documented_options(self):
        options = set(self.module.argument_spec())
        for task in doc_blocks(self.module)["EXAMPLES"]:
            args = task["%s.%s" % (COLLECTION, self.name())]
            assert set(args) <= options
            self.check_example(args)


# ---------------------------------------------------------------------------------------------
# MLflow auth modules against FakeMlflow (tests/unit/plugins/module_utils/test_mlflow_auth.py)
# ---------------------------------------------------------------------------------------------


def auth_fake(monkeypatch, **kwargs):
    """A FakeMlflow(**kwargs) answering the module's requests; exit_json and fail_json raise."""
    patch_exits(monkeypatch)
    server = FakeMlflow(**kwargs)
    monkeypatch.setattr(ma, "open_url", server.open_url)
    return server


def assert_no_secret(result, fake, secrets):
    text = json.dumps(result)
    for secret in secrets:
        assert secret not in text, "a password in the result: %s" % text
    for request in fake.requests:
        for secret in secrets:
            assert secret not in request[1], "a password in a URL: %s" % request[1]


def run_auth_module(module, fake, secrets, check_mode=False, diff=False, **args):
    """The result of module.main() run as the fake's admin with args (those that are None left out);
    none of the secrets may be in it or in a requested URL."""
    params = dict(tracking_uri=fake.base, admin_username=ADMIN, admin_password=ADMIN_PASSWORD)
    params.update(args)
    params = dict((k, v) for k, v in params.items() if v is not None)
    if diff:
        params["_ansible_diff"] = True
    result = run_main(module.main, params, check_mode=check_mode)
    assert_no_secret(result, fake, secrets)
    return result
