# -*- coding: utf-8 -*-
# Copyright: mlops.mlflow maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter plugin mlops.mlflow.schema_plan: what an MLflow database needs before a new image runs."""
from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: schema_plan
short_description: Decide whether an MLflow database must be upgraded before a new server image runs
version_added: 0.1.0
description:
  - Compares the alembic revision of an MLflow database with the migrations of the MLflow
    image about to serve it, and says what has to happen before that image may start.
  - >-
    C(none) - the database is at the image's head.
  - >-
    C(init) - the database holds no MLflow table yet; the server creates the schema at its
    first start.
  - >-
    C(upgrade) - the database revision is an ancestor of the image's head. Back up, stop every
    server that uses the database, run C(mlflow db upgrade) once, then start the servers.
  - >-
    C(refuse) - anything that cannot work. A revision the image does not know (the database was
    upgraded by a newer MLflow, a downgrade that MLflow's migrations cannot do), tables without
    an C(alembic_version), an image with no or several heads. The message then names both
    versions and the way back.
options:
  _input:
    description:
      - >-
        The report of the schema probe, either the probe's output (text holding a line
        C(MLFLOW_SCHEMA {json})) or that JSON as a dictionary with C(heads) (list), C(revisions)
        (every revision the image knows), C(db_revision) (string or null) and C(db_tables) (int).
    type: raw
    required: true
  version:
    description: MLflow version of the image about to run (for the messages).
    type: string
    required: true
  running_versions:
    description: MLflow versions of the servers running now (container labels), for the messages.
    type: list
    elements: string
    default: []
  rollback:
    description: How to go back to the version before the last upgrade (named in a refusal).
    type: string
    default: playbooks/rollback.yml
author:
  - mlops.mlflow maintainers (@mlops)
"""

EXAMPLES = r"""
- name: Decide what the schema needs
  ansible.builtin.set_fact:
    plan: "{{ probe.container.Output | mlops.mlflow.schema_plan(mlflow_server_version, running_versions=['3.7.0']) }}"

- name: Refuse a downgrade before anything changes
  ansible.builtin.assert:
    that: plan.action != 'refuse'
    fail_msg: "{{ plan.msg }}"
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    action:
      description: none, init, upgrade or refuse.
      type: string
    db_revision:
      description: Alembic revision of the database (null when it has no MLflow schema).
      type: string
    head:
      description: Alembic head of the image (null when the image has none or several).
      type: string
    from_version:
      description: MLflow version the database belongs to (running servers, else known revisions, else C(unknown)).
      type: string
    to_version:
      description: The O(version) given.
      type: string
    msg:
      description: One sentence for the operator.
      type: string
"""

MARKER = "MLFLOW_SCHEMA "
# Heads of the MLflow releases this collection tests (for messages when no server runs).
KNOWN_HEADS = {
    "bf29a5ff90ea": "3.7.0",
    "dc11669786a5": "3.17.2",
}


def parse_report(report):
    """The probe's JSON, from its output text (last marker line wins) or as given."""
    if isinstance(report, dict):
        data = report
    elif isinstance(report, str):
        lines = [line for line in report.splitlines() if line.startswith(MARKER)]
        if not lines:
            tail = " | ".join(report.strip().splitlines()[-3:])
            raise AnsibleFilterError(f"schema_plan: no '{MARKER.strip()}' line in the probe's output: {tail or '(empty)'}")
        try:
            data = json.loads(lines[-1][len(MARKER):])
        except ValueError as exc:
            raise AnsibleFilterError(f"schema_plan: the probe's report is not JSON: {exc}") from exc
    else:
        raise AnsibleFilterError(f"schema_plan: expected the probe's output or a dict, got {type(report).__name__}")
    for key, kind in (("heads", list), ("revisions", list)):
        if not isinstance(data.get(key), kind):
            raise AnsibleFilterError(f"schema_plan: the report has no list '{key}'")
    revision = data.get("db_revision")
    if revision is not None and not isinstance(revision, str):
        raise AnsibleFilterError("schema_plan: 'db_revision' must be a string or null")
    return {
        "heads": [str(h) for h in data["heads"]],
        "revisions": [str(r) for r in data["revisions"]],
        "db_revision": revision or None,
        "db_tables": int(data.get("db_tables") or 0),
    }


def _from_version(revision, running_versions):
    versions = sorted({str(v) for v in running_versions or [] if v})
    if versions:
        return ", ".join(versions)
    return KNOWN_HEADS.get(revision or "", "unknown")


def schema_plan(report, version, running_versions=None, rollback="playbooks/rollback.yml"):
    if not isinstance(version, str) or not re.match(r"^[0-9]+\.[0-9]+", version):
        raise AnsibleFilterError(f"schema_plan: version must be an MLflow version such as 3.17.2, got {version!r}")
    data = parse_report(report)
    heads, revision = data["heads"], data["db_revision"]
    head = heads[0] if len(heads) == 1 else None
    from_version = _from_version(revision, running_versions)
    plan = {"db_revision": revision, "head": head, "from_version": from_version, "to_version": version}

    def done(action, msg):
        plan.update(action=action, msg=msg)
        return plan

    if head is None:
        return done("refuse", f"The MLflow {version} image has {len(heads)} alembic heads ({', '.join(heads) or 'none'}), "
                              "expected one: it is not a usable MLflow image. Nothing was changed.")
    if revision is None:
        if data["db_tables"] > 0:
            return done("refuse", f"The database holds {data['db_tables']} tables but no alembic_version: it is not an "
                                  f"MLflow store (or a damaged one). MLflow {version} would not start on it. Nothing was changed.")
        return done("init", f"The database holds no MLflow schema yet: MLflow {version} creates it (revision {head}) at its first start.")
    if revision == head or revision in heads:
        return done("none", f"The database is at revision {revision}, the head of MLflow {version}: nothing to upgrade.")
    if revision in data["revisions"]:
        return done("upgrade", f"The database is at revision {revision} (MLflow {from_version}); MLflow {version} needs {head}: "
                               "back up, stop every server, run `mlflow db upgrade` once, start the servers.")
    return done(
        "refuse",
        f"Refusing MLflow {version}: the database is at revision {revision} (MLflow {from_version}), which MLflow "
        f"{version} does not know (its head is {head}). The schema was upgraded by a newer MLflow, and MLflow's "
        f"migrations cannot go back. Nothing was changed. Keep mlflow_server_version: {from_version}, or go back "
        f"to the version and the data from before the last upgrade with {rollback} (it restores the backup "
        "taken before that upgrade).",
    )


class FilterModule:
    def filters(self):
        return {"schema_plan": schema_plan}
