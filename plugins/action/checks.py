# -*- coding: utf-8 -*-
# Copyright (c) 2026 mlops.mlflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mlops.mlflow.checks: a role's variable checks in one task (documented in plugins/modules/checks.py).

ansible.builtin.assert takes one message and stops at the first false condition: a role with
twenty checks needed twenty tasks (~60 ms each on the controller, issue #19) and a user with two
wrong settings learned of the second on the next run. This evaluates every check and fails once,
with the message of each check that does not hold.
"""
from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase


def _listify(value):
    return value if isinstance(value, list) else [value]


class ActionModule(ActionBase):
    """Evaluate every check; fail with the messages of those that do not hold."""

    _requires_connection = False
    _supports_check_mode = True
    TRANSFERS_FILES = False

    @classmethod
    def finalize_task_arg(cls, name, value, templar, context):
        # ansible-core 2.19+: leave `checks` as written - conditions are evaluated, and a message
        # is rendered only for a check that fails (it may name values only a failure has).
        # (Older cores render the arguments before run(); the messages are then rendered up front.)
        if name == "checks":
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def _holds(self, condition, task_vars):
        if isinstance(condition, bool):
            return condition
        if hasattr(self._templar, "evaluate_conditional"):  # ansible-core 2.19+
            return bool(self._templar.evaluate_conditional(conditional=condition))
        from ansible.playbook.conditional import Conditional  # ansible-core 2.17, 2.18

        conditional = Conditional(loader=self._loader)
        conditional.when = [condition]
        return conditional.evaluate_conditional(self._templar, task_vars)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        checks = self._task.args.get("checks")
        unknown = sorted(set(self._task.args) - {"checks"})
        if unknown or not isinstance(checks, list) or not checks:
            result.update(failed=True, msg="mlops.mlflow.checks takes one argument, checks: a non-empty list of "
                                           "{that, msg[, when]}" + (" (unknown: %s)" % ", ".join(unknown) if unknown else ""))
            return result

        failures = []
        for number, check in enumerate(checks, 1):
            if not isinstance(check, dict) or "that" not in check or "msg" not in check \
                    or set(check) - {"that", "msg", "when"}:
                result.update(failed=True, msg="check %d: expected the keys that, msg and optionally when; got %r"
                                               % (number, sorted(check) if isinstance(check, dict) else check))
                return result
            try:
                if "when" in check and not all(self._holds(c, task_vars) for c in _listify(check["when"])):
                    continue
                holds = all(self._holds(c, task_vars) for c in _listify(check["that"]))
            except AnsibleError as exc:
                # one check that cannot be evaluated (e.g. a variable of the wrong type) does not
                # hide the others
                failures.append("%s (the check could not be evaluated: %s)" % (self._message(check), exc.message))
                continue
            if not holds:
                failures.append(self._message(check))

        result["changed"] = False
        result["checks"] = len(checks)
        if failures:
            result["failed"] = True
            result["failures"] = failures
            result["msg"] = failures[0] if len(failures) == 1 else " ".join(
                "(%d/%d) %s" % (n, len(failures), text) for n, text in enumerate(failures, 1))
        else:
            result["msg"] = "All %d checks passed" % len(checks)
        return result

    def _message(self, check):
        try:
            return str(self._templar.template(check["msg"])).strip()
        except AnsibleError as exc:
            return "%s (its message could not be rendered: %s)" % (check["msg"], exc.message)
