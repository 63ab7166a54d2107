#!/usr/bin/env python3
"""Keep every role's defaults, argument_specs and README in step.

For each role under roles/:
- defaults/main.yml and meta/argument_specs.yml (entry point main) have the same keys;
- each default equals the argument_specs `default` (when one is given);
- every public variable is prefixed with the role name and named in the role's README.md;
- entry points: every `tasks_from` of the collection's playbooks, roles and Molecule scenarios
  names an entry point of the role's argument_specs, without `.yml` (Ansible validates the
  arguments only for a matching entry point name), and every role with tasks/preflight.yml has a
  `preflight` entry point; each entry point has its tasks file and uses main's options (the same
  specs: a YAML alias, or a subset). A role without main (roles/common) is internal: no
  tasks/main.yml, no defaults;
- the task of tasks/main.yml that runs preflight.yml carries every tag of tasks/main.yml (but the
  tags of `never` tasks), so no --tags skips the checks;
- handlers: each listens to `restart <role>` (or `reload <role>`), one of them is named
  `Restart <role>` (`Reload <role>`), every topic is notified by the role and every notify of the
  role names a topic it listens to;
- community.docker.docker_container only defines containers (with `command`), never only
  starts, stops or restarts one by name: without `env` it compares the image's environment with
  the container's, and a container that overrides an image variable (AWS_CA_BUNDLE, when
  mlflow_server_ca_bundle and a CA for the object store are both set) is recreated from the bare
  image (no ports, mounts or healthcheck). Use the docker CLI for those. And no task sets
  `comparisons`: under Mitogen (make local, make molecule) community.docker's option objects
  live on in the interpreter, so `comparisons: {"*": ignore}` of one task made the next
  docker_container task ignore a new image (an upgrade restarted the old image).
Exit 1 with a list of problems, 0 when clean.
"""
from __future__ import annotations

import pathlib
import sys

import yaml

from _common import ROOT, report


def argument_specs(role: pathlib.Path) -> dict:
    """The role's entry points (aliases resolved by the loader)."""
    return (yaml.safe_load((role / "meta" / "argument_specs.yml").read_text()) or {}).get("argument_specs") or {}


def role_problems(role: pathlib.Path) -> list[str]:
    name = role.name
    problems: list[str] = []
    defaults_file = role / "defaults" / "main.yml"
    specs_file = role / "meta" / "argument_specs.yml"
    readme = role / "README.md"
    defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.exists() else {}
    if not specs_file.exists():
        return [f"{name}: meta/argument_specs.yml is missing"]
    entries = argument_specs(role)
    if "main" not in entries:
        # internal role (roles/common): only entry points that other roles import
        if (role / "tasks" / "main.yml").exists() or defaults:
            problems.append(f"{name}: tasks/main.yml or defaults without a main entry point in meta/argument_specs.yml")
        specs = {key: spec for entry in entries.values() for key, spec in (entry.get("options") or {}).items()}
        for key in sorted(specs):
            if not key.lstrip("_").startswith(f"{name}_"):
                problems.append(f"{name}: variable {key} is not prefixed _{name}_")
        text = readme.read_text() if readme.exists() else ""
        problems.extend(f"{name}: {key} is not documented in README.md" for key in sorted(specs) if key not in text)
        return problems + ([] if readme.exists() else [f"{name}: README.md is missing"])
    specs = entries["main"].get("options") or {}
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
            if not isinstance(args, dict):
                continue
            where = f"{role.name}: {path.relative_to(role)}: '{task.get('name')}'"
            if "comparisons" in args:
                problems.append(f"{where} sets comparisons: under Mitogen they stay in force for the next"
                                " docker_container task (use the docker CLI to start or stop a container)")
            if args.get("state") != "absent" and "command" not in args:
                problems.append(f"{where} starts or stops a container it does not define: it may be recreated"
                                " from the bare image; use the docker CLI (docker stop/start/restart)")
    return problems


ROLE_ACTIONS = {f"{prefix}{verb}_role" for prefix in ("", "ansible.builtin.") for verb in ("include", "import")}
COLLECTION = "mlops.mlflow."


def _entry_point_uses(data, where: str):
    """(role, tasks_from, where) of every include_role/import_role of this collection's roles in a YAML document."""
    if isinstance(data, list):
        for item in data:
            yield from _entry_point_uses(item, where)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key in ROLE_ACTIONS and isinstance(value, dict) and "tasks_from" in value:
                role = str(value.get("name", ""))
                if role.startswith(COLLECTION) and "{{" not in role:
                    yield role[len(COLLECTION):], str(value["tasks_from"]), where
            else:
                yield from _entry_point_uses(value, where)


def entry_point_problems(roles: list[pathlib.Path]) -> list[str]:
    problems: list[str] = []
    specs = {role.name: argument_specs(role) for role in roles if (role / "meta" / "argument_specs.yml").exists()}
    files = [ROOT / "site.yml"] + sorted((ROOT / "playbooks").glob("**/*.yml")) + sorted((ROOT / "roles").glob("**/*.yml"))
    files += sorted((ROOT / "molecule").glob("**/*.yml"))
    for path in files:
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # not plain YAML (templates); yamllint reports real errors
        for role, entry, where in _entry_point_uses(documents, str(path.relative_to(ROOT))):
            if role not in specs:
                problems.append(f"{where}: tasks_from {entry} of an unknown role {role}")
            elif entry not in specs[role]:
                hint = " (without .yml: Ansible validates the arguments only for an entry point's exact name)" \
                    if entry.rsplit(".", 1)[0] in specs[role] else ""
                problems.append(f"{where}: tasks_from {entry} of {role} has no entry point in "
                                f"roles/{role}/meta/argument_specs.yml{hint}")
    for role in roles:
        entries = specs.get(role.name, {})
        main = (entries.get("main") or {}).get("options") or {}
        if (role / "tasks" / "preflight.yml").exists() and "preflight" not in entries:
            problems.append(f"{role.name}: tasks/preflight.yml has no preflight entry point in meta/argument_specs.yml")
        for entry, spec in entries.items():
            if not (role / "tasks" / f"{entry}.yml").exists():
                problems.append(f"{role.name}: entry point {entry} has no tasks/{entry}.yml")
            if entry == "main" or "main" not in entries:
                continue
            options = (spec or {}).get("options") or {}
            if not options:
                problems.append(f"{role.name}: entry point {entry} has no options (use main's: options: *main_options)")
            drift = sorted(key for key, value in options.items() if main.get(key) != value)
            if drift:
                problems.append(f"{role.name}: entry point {entry} specifies {', '.join(drift)} unlike main"
                                " (share main's options with a YAML alias)")
    return problems


def _tags(task: dict) -> set[str]:
    tags = task.get("tags") or []
    return {tags} if isinstance(tags, str) else set(tags)


def preflight_tag_problems(role: pathlib.Path) -> list[str]:
    main_file = role / "tasks" / "main.yml"
    if not main_file.exists() or not (role / "tasks" / "preflight.yml").exists():
        return []
    tasks = list(_tasks(yaml.safe_load(main_file.read_text())))
    tags = set().union(*(_tags(task) for task in tasks if "never" not in _tags(task))) - {"always"}
    runs = [task for task in tasks for key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks")
            if key in task and "preflight.yml" in (task[key] if isinstance(task[key], str) else task[key].get("file", ""))]
    if not runs:
        return [f"{role.name}: tasks/main.yml does not run preflight.yml"]
    task = runs[0]
    missing = tags - _tags(task)
    applied = task.get("ansible.builtin.include_tasks")
    if isinstance(applied, dict):
        missing |= tags - set(((applied.get("apply") or {}).get("tags")) or [])
    return [f"{role.name}: '{task.get('name')}' (preflight.yml) lacks the tags {', '.join(sorted(missing))}:"
            " --tags with one of them would skip the checks"] if missing else []


def handler_problems(role: pathlib.Path) -> list[str]:
    name = role.name
    problems: list[str] = []
    handlers_file = role / "handlers" / "main.yml"
    handlers = list(_tasks(yaml.safe_load(handlers_file.read_text()))) if handlers_file.exists() else []
    topics: dict[str, list[str]] = {}
    for handler in handlers:
        listen = handler.get("listen")
        listen = [listen] if isinstance(listen, str) else list(listen or [])
        if not listen or any(topic not in (f"restart {name}", f"reload {name}") for topic in listen):
            problems.append(f"{name}: handler '{handler.get('name')}' must listen to 'restart {name}' or 'reload {name}'"
                            f" (got {listen})")
        for topic in listen:
            topics.setdefault(topic, []).append(str(handler.get("name")))
    for topic, names in topics.items():
        if topic.capitalize() not in names:
            problems.append(f"{name}: no handler of '{topic}' is named '{topic.capitalize()}' (got {names})")
    notified: set[str] = set()
    for path in sorted(role.glob("tasks/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            notify = task.get("notify") or []
            for topic in [notify] if isinstance(notify, str) else notify:
                notified.add(topic)
                if topic not in topics:
                    problems.append(f"{name}: {path.relative_to(role)}: '{task.get('name')}' notifies '{topic}',"
                                    " which no handler of the role listens to")
    problems.extend(f"{name}: handlers of '{topic}' are never notified" for topic in sorted(set(topics) - notified))
    return problems


def main() -> int:
    problems: list[str] = []
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    for role in roles:
        problems.extend(role_problems(role))
        problems.extend(bare_container_problems(role))
        problems.extend(preflight_tag_problems(role))
        problems.extend(handler_problems(role))
    problems.extend(entry_point_problems(roles))
    return report(problems, f"checked {len(roles)} roles: {len(problems)} problems")


if __name__ == "__main__":
    sys.exit(main())
