# -*- coding: utf-8 -*-
"""Unit tests of the mlops.mlflow.schema_plan filter (plain pytest).

The revisions are MLflow's real ones: 3.7.0's head bf29a5ff90ea, 3.17.2's head dc11669786a5
(MLFLOW_FACTS.md); the 3.17.2 image knows both, the 3.7.0 image only the first.
"""
from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.mlflow.plugins.filter.schema_plan import FilterModule, parse_report, schema_plan

OLD = "bf29a5ff90ea"
NEW = "dc11669786a5"
FIRST = "451aebb31d03"
IMAGE_3172 = {"heads": [NEW], "revisions": [NEW, "1b5f0d9ad7c1", OLD, FIRST]}
IMAGE_370 = {"heads": [OLD], "revisions": [OLD, FIRST]}


def report(image, revision, tables=None):
    return dict(image, db_revision=revision, db_tables=(tables if tables is not None else (33 if revision else 0)))


def probe_output(data):
    # what the probe container prints: import noise, then the marker line
    return "2026/11/30 INFO mlflow.store.db.utils: something\n" + "MLFLOW_SCHEMA " + json.dumps(data) + "\n"


@pytest.mark.parametrize(
    "image, revision, tables, action",
    [
        (IMAGE_3172, NEW, None, "none"),
        (IMAGE_370, OLD, None, "none"),
        (IMAGE_3172, OLD, None, "upgrade"),
        (IMAGE_3172, FIRST, None, "upgrade"),
        (IMAGE_370, NEW, None, "refuse"),  # downgrade
        (IMAGE_370, "0123456789ab", None, "refuse"),  # foreign revision
        (IMAGE_3172, None, 0, "init"),  # empty database
        (IMAGE_3172, None, 5, "refuse"),  # tables, no alembic_version
        ({"heads": [], "revisions": []}, OLD, None, "refuse"),
        ({"heads": [OLD, NEW], "revisions": [OLD, NEW]}, OLD, None, "refuse"),
    ],
)
def test_actions(image, revision, tables, action):
    plan = schema_plan(report(image, revision, tables), "3.17.2")
    assert plan["action"] == action
    assert plan["db_revision"] == revision
    assert plan["to_version"] == "3.17.2"


def test_upgrade_names_both_versions_and_revisions():
    plan = schema_plan(report(IMAGE_3172, OLD), "3.17.2", running_versions=["3.7.0"])
    assert plan["head"] == NEW and plan["from_version"] == "3.7.0"
    assert "3.7.0" in plan["msg"] and "3.17.2" in plan["msg"] and OLD in plan["msg"] and NEW in plan["msg"]


def test_downgrade_message_names_versions_and_way_back():
    plan = schema_plan(report(IMAGE_370, NEW), "3.7.0", running_versions=["3.17.2", "3.17.2"])
    assert plan["action"] == "refuse"
    assert plan["from_version"] == "3.17.2"
    for text in ("MLflow 3.7.0", "MLflow 3.17.2", NEW, OLD, "playbooks/rollback.yml",
                 "mlflow_server_version: 3.17.2", "Nothing was changed"):
        assert text in plan["msg"], text


def test_from_version_falls_back_to_known_heads_then_unknown():
    assert schema_plan(report(IMAGE_370, NEW), "3.7.0")["from_version"] == "3.17.2"
    assert schema_plan(report(IMAGE_370, "0123456789ab"), "3.7.0")["from_version"] == "unknown"
    assert schema_plan(report(IMAGE_370, NEW), "3.7.0", running_versions=["", None])["from_version"] == "3.17.2"


def test_custom_rollback_hint():
    plan = schema_plan(report(IMAGE_370, NEW), "3.7.0", rollback="make rollback")
    assert "make rollback" in plan["msg"]


def test_probe_output_text_is_parsed():
    plan = schema_plan(probe_output(report(IMAGE_3172, OLD)), "3.17.2")
    assert plan["action"] == "upgrade"


def test_last_marker_line_wins():
    text = probe_output(report(IMAGE_3172, OLD)) + probe_output(report(IMAGE_3172, NEW))
    assert parse_report(text)["db_revision"] == NEW


@pytest.mark.parametrize(
    "bad, match",
    [
        ("Traceback ...\npsycopg2.OperationalError: connection refused", "no 'MLFLOW_SCHEMA' line"),
        ("", "no 'MLFLOW_SCHEMA' line"),
        ("MLFLOW_SCHEMA {not json", "not JSON"),
        ({"revisions": []}, "no list 'heads'"),
        ({"heads": [NEW]}, "no list 'revisions'"),
        ({"heads": [NEW], "revisions": [NEW], "db_revision": 7}, "string or null"),
        (42, "expected the probe's output"),
    ],
)
def test_bad_reports(bad, match):
    with pytest.raises(AnsibleFilterError, match=match):
        schema_plan(bad, "3.17.2")


def test_bad_version():
    with pytest.raises(AnsibleFilterError, match="version"):
        schema_plan(report(IMAGE_3172, NEW), "latest")


def test_filter_is_registered():
    assert FilterModule().filters()["schema_plan"] is schema_plan
