# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process: exit_json / fail_json raise instead of exiting.

    patch_exits(monkeypatch)                        # once per test (fixture)
    result = run_main(module.main, args, check_mode=False)   # the dict the module returned

and read a module's documentation:

    doc_blocks(module)    # {"DOCUMENTATION": ..., "EXAMPLES": ..., "RETURN": ...}, as YAML data
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class Exit(Exception):
    """exit_json was called; .result is what the module returned."""

    def __init__(self, result):
        Exception.__init__(self, result.get("msg"))
        self.result = result


class Fail(Exit):
    """fail_json was called."""


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise Exit(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["msg"] = msg
    kwargs["failed"] = True
    raise Fail(kwargs)


def patch_exits(monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)


def run_main(main, args, check_mode=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(Exit) as excinfo:
            main()
    return excinfo.value.result


def doc_blocks(module):
    """The DOCUMENTATION, EXAMPLES and RETURN strings of a module's file (those it assigns), loaded as YAML."""
    tree = ast.parse(Path(module.__file__).read_text())
    blocks = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                blocks[node.targets[0].id] = yaml.safe_load(node.value.value)
    return blocks
