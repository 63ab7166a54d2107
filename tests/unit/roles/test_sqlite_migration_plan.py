"""sqlite_migration: what the plan decides from pgloader_migrate's check-mode answer.

The plan task runs with `failed_when: false` and the `Decide` task reads its result. A check that
failed (for example the foreign-key count check, whose failure also carries `action: migrate`, or
a refused foreign_keys mode) must decide `fail`, never `migrate`: before, such a result went on to
stop the servers and failed again in the load. Rendered with ansible-core's Templar from
roles/sqlite_migration/tasks/plan.yml.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[3]
PLAN = yaml.safe_load((ROOT / "roles/sqlite_migration/tasks/plan.yml").read_text())
DECIDE = next(t for t in PLAN if t.get("name") == "Decide")["ansible.builtin.set_fact"]["__sqlite_migration_action"]


def _decide(plan, recorded=False):
    templar = Templar(DataLoader(), variables={"__sqlite_migration_plan": plan,
                                               "__sqlite_migration_recorded": recorded})
    return templar.template(trust_as_template(DECIDE)).strip()


@pytest.mark.parametrize("plan, recorded, expected", [
    ({"failed": False, "changed": True, "action": "migrate"}, False, "migrate"),
    ({"failed": False, "changed": False, "action": "skip"}, False, "skip"),
    ({"failed": True, "action": "fail", "msg": "the target holds other data"}, False, "fail"),
    ({"failed": True, "action": "fail", "msg": "the target holds other data"}, True, "done"),
    ({"failed": True, "msg": "foreign_keys=keep needs session_replication_role"}, False, "fail"),
    # the module's failure on too few foreign keys carries the decision it had reached
    ({"failed": True, "action": "migrate", "msg": "PostgreSQL has 56 foreign keys where 57 are expected"},
     False, "fail"),
    ({"failed": True, "action": "skip", "msg": "sequences are behind"}, False, "fail"),
])
def test_a_failed_check_never_reads_as_a_plan(plan, recorded, expected):
    assert _decide(plan, recorded) == expected
