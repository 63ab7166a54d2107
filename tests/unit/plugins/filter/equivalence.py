# -*- coding: utf-8 -*-
"""What the equivalence tests of the filter plugins share (test_minio_equivalence.py,
test_mlflow_server_equivalence.py): a role's vars file, as it was and as it is now that its Jinja
moved into the collection's filters, rendered with ansible-core's own Templar, and one definition
of "the same value, type and order".

    DEFAULTS = load(ROLE / "defaults" / "main.yml")
    returned = {}                                    # filter name -> what each of its calls returned
    templar = filter_templar(variables, FilterModule().filters(), returned)
    value = render(templar, "_role_variable")
    assert typed(value) == typed(old_value)
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

LOADER = DataLoader()


def load(path):
    """A YAML file, its strings trusted as templates (always: the loader caches a file as first loaded)."""
    return LOADER.load_from_file(str(path), trusted_as_template=True)


def typed(value):
    """The value with its (untagged) type at every level, dict order included."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", float(value))
    if isinstance(value, str):
        return ("str", str(value))
    if value is None:
        return ("none", None)
    if isinstance(value, Mapping):
        return ("dict", tuple((typed(k), typed(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list" if isinstance(value, list) else "tuple", tuple(typed(v) for v in value))
    raise TypeError("unexpected %s in a rendered value: %r" % (type(value).__name__, value))


def _recording(func, returned):
    """func, appending what each call returns to returned[func.__name__]."""
    @functools.wraps(func)
    def call(*args, **kwargs):
        returned.setdefault(func.__name__, []).append(result := func(*args, **kwargs))
        return result

    return call


def filter_templar(variables, filters, returned=None, tests=None, other_filters=None):
    """A Templar over `variables` with the collection's `filters` and `tests` (a FilterModule's
    filters(), a TestModule's tests()) as mlops.mlflow.<name>, and `other_filters` by their full
    names. The collection's plugins are wrapped as Ansible wraps a collection's plugins (their
    arguments templated the same way); what each filter call returns goes to `returned`."""
    templar = Templar(LOADER, variables=variables)
    environment = templar._engine.environment  # Templar.environment is the deprecated public alias
    environment.filters.update(other_filters or {})
    for name, func in (tests or {}).items():
        environment.tests["mlops.mlflow." + name] = func
    for name, func in filters.items():
        environment.filters["mlops.mlflow." + name] = _recording(func, {} if returned is None else returned)
    return templar


def render(templar, name):
    """The variable `name`, rendered as "{{ name }}"."""
    return templar.template(trust_as_template("{{ %s }}" % name))
