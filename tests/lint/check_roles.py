#!/usr/bin/env python3
"""Keep every role's defaults, argument_specs and README in step.

For each role under roles/:
- defaults/main.yml and meta/argument_specs.yml (entry point main) have the same keys;
- each default equals the argument_specs `default` (when one is given);
- every public variable is prefixed with the role name and named in the role's README.md;
- every community.docker.docker_container task that only starts, stops or restarts a container
  (no `command`: it does not define the container) sets `comparisons: {"*": ignore}`. Without
  it the module compares the image's environment with the container's, and a container that
  overrides an image variable (AWS_CA_BUNDLE, when mlflow_server_ca_bundle and a CA for the
  object store are both set) is recreated from the bare image: no ports, mounts or healthcheck.
Exit 1 with a list of problems, 0 when clean.
"""
from __future__ import annotations

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def role_problems(role: pathlib.Path) -> list[str]:
    name = role.name
    problems: list[str] = []
    defaults_file = role / "defaults" / "main.yml"
    specs_file = role / "meta" / "argument_specs.yml"
    readme = role / "README.md"
    defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.exists() else {}
    if not specs_file.exists():
        return [f"{name}: meta/argument_specs.yml is missing"]
    specs = yaml.safe_load(specs_file.read_text())["argument_specs"]["main"].get("options") or {}
    for key in sorted(set(defaults) - set(specs)):
        problems.append(f"{name}: {key} is in defaults/main.yml but not in meta/argument_specs.yml")
    for key in sorted(set(specs) - set(defaults)):
        if "default" in specs[key] or not specs[key].get("required", False):
            problems.append(f"{name}: {key} is in meta/argument_specs.yml but not in defaults/main.yml")
    for key in sorted(set(defaults) & set(specs)):
        if "default" in specs[key] and specs[key]["default"] != defaults[key]:
            problems.append(
                f"{name}: default of {key} differs: defaults {defaults[key]!r} vs argument_specs {specs[key]['default']!r}"
            )
    for key in sorted(set(defaults) | set(specs)):
        if not key.startswith(f"{name}_"):
            problems.append(f"{name}: variable {key} is not prefixed {name}_")
    if not readme.exists():
        problems.append(f"{name}: README.md is missing")
    else:
        text = readme.read_text()
        for key in sorted(set(defaults) | set(specs)):
            if key not in text:
                problems.append(f"{name}: {key} is not documented in README.md")
    return problems


def _tasks(items):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def bare_container_problems(role: pathlib.Path) -> list[str]:
    problems: list[str] = []
    for path in sorted(list(role.glob("tasks/*.yml")) + list(role.glob("handlers/*.yml"))):
        for task in _tasks(yaml.safe_load(path.read_text())):
            args = task.get("community.docker.docker_container")
            if not isinstance(args, dict) or args.get("state") == "absent" or "command" in args:
                continue
            if (args.get("comparisons") or {}).get("*") != "ignore":
                problems.append(
                    f"{role.name}: {path.relative_to(role)}: '{task.get('name')}' starts or stops a container it does"
                    " not define: set comparisons: {\"*\": ignore} (else it may be recreated from the bare image)"
                )
    return problems


def main() -> int:
    problems: list[str] = []
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    for role in roles:
        problems.extend(role_problems(role))
        problems.extend(bare_container_problems(role))
    for line in problems:
        print(line)
    print(f"checked {len(roles)} roles: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
