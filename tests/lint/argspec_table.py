"""Print a Markdown table of a role's variables from meta/argument_specs.yml.

    python tests/lint/argspec_table.py roles/docker > table.md
Used to write the variable tables in the roles' README files.
"""
import pathlib
import sys

import yaml

role = pathlib.Path(sys.argv[1])
opts = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
print("| Variable | Type | Default | Description |")
print("| --- | --- | --- | --- |")
for name, spec in opts.items():
    default = spec.get("default", "(required)" if spec.get("required") else "")
    default = "`" + yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip() + "`" if default != "" else ""
    desc = spec.get("description", "")
    desc = " ".join(desc) if isinstance(desc, list) else desc
    choices = f" One of {', '.join(map(str, spec['choices']))}." if "choices" in spec else ""
    print(f"| `{name}` | {spec.get('type', 'str')} | {default.replace('|', '&#124;')} | {desc.replace('|', '&#124;')}{choices} |")
