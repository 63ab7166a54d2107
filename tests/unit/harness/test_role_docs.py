# -*- coding: utf-8 -*-
"""scripts/role-docs.py: the README variable tables are generated from meta/argument_specs.yml."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SPEC = textwrap.dedent("""\
    ---
    argument_specs:
      main:
        short_description: Demo.
        options:
          demo_engine:
            type: str
            choices: [minio, seaweedfs]
            default: seaweedfs
            description:
              - >-
                Object store server, over
                two lines.
              - A second paragraph
          demo_policy:
            type: str
            choices: ['no', always]
            default: 'no'
            description: Restart policy.
          demo_password:
            type: str
            no_log: true
            default: ''
            description: Password; see C(mc) and O(demo_engine).
          demo_port:
            type: int
            default: 9000
            description: Port | pipe.
          demo_enabled:
            type: bool
            default: false
            description: On or off.
          demo_packages:
            type: list
            elements: str
            default: [python3-boto3, "127.0.0.1:5001"]
            description: Packages.
          demo_buckets:
            type: list
            elements: dict
            default: [{name: mlflow}]
            description: Buckets.
            options:
              name:
                type: str
                required: true
                description: Bucket name.
          demo_settings:
            type: dict
            default: {}
            description: Settings of <name>.
          demo_url:
            type: str
            default: "http://{{ inventory_hostname }}:{{ demo_port }}/"
            description: URL (Jinja default).
          demo_pool:
            type: int
            description: Pool size; none means the server's default.
          demo_token:
            type: str
            required: true
            description: Token.
    """)

TABLE = """\
| Variable | Type | Default | Description |
| --- | --- | --- | --- |
| `demo_engine` | str | `seaweedfs` | Object store server, over two lines. A second paragraph. One of `minio`, `seaweedfs`. |
| `demo_policy` | str | `no` | Restart policy. One of `no`, `always`. |
| `demo_password` | str | `""` | Password; see `mc` and `demo_engine`. Secret (no_log). |
| `demo_port` | int | `9000` | Port \\| pipe. |
| `demo_enabled` | bool | `false` | On or off. |
| `demo_packages` | list/str | `[python3-boto3, "127.0.0.1:5001"]` | Packages. |
| `demo_buckets` | list/dict | `[{name: mlflow}]` | Buckets. Keys: `name` (str, required): Bucket name. |
| `demo_settings` | dict | `{}` | Settings of &lt;name>. |
| `demo_url` | str | `http://{{ inventory_hostname }}:{{ demo_port }}/` | URL (Jinja default). |
| `demo_pool` | int | `null` | Pool size; none means the server's default. |
| `demo_token` | str |  | Token. Required. |
"""


@pytest.fixture()
def role_docs(load_script):
    return load_script("scripts/role-docs.py")


def make_role(root: Path, readme: str, name: str = "demo") -> Path:
    role = root / "roles" / name
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(SPEC)
    (role / "README.md").write_text(readme)
    return role / "README.md"


def readme_with(role_docs, table: str) -> str:
    return f"# demo\n\n## Role variables\n\n{role_docs.BEGIN}\n{table}{role_docs.END}\n\n## Example\n\ntext\n"


def test_render_table(role_docs):
    options = role_docs.yaml.safe_load(SPEC)["argument_specs"]["main"]["options"]
    assert role_docs.render_table(options) == TABLE


def test_code_span_with_backticks(role_docs):
    assert role_docs.code("a`b") == "``a`b``"
    assert role_docs.code("`x`") == "`` `x` ``"


def test_check_passes_when_in_sync(role_docs, tmp_path, capsys):
    make_role(tmp_path, readme_with(role_docs, TABLE))
    assert role_docs.main(["--check", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def test_check_reports_changed_table(role_docs, tmp_path, capsys):
    stale = TABLE.replace("Restart policy.", "Docker restart policy (hand-edited).")
    readme = make_role(tmp_path, readme_with(role_docs, stale))
    before = readme.read_text()
    assert role_docs.main(["--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "--- a/roles/demo/README.md" in out
    assert "-| `demo_policy` | str | `no` | Docker restart policy (hand-edited)." in out
    assert "+| `demo_policy` | str | `no` | Restart policy." in out
    assert "1 of 1 role READMEs" in out
    assert readme.read_text() == before, "--check must not write"


def test_check_reports_missing_markers(role_docs, tmp_path, capsys):
    make_role(tmp_path, "# demo\n\n" + TABLE)
    assert role_docs.main(["--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "roles/demo/README.md: no table markers" in out
    assert role_docs.main(["--write", "--root", str(tmp_path)]) == 1


def test_roles_without_spec_are_skipped(role_docs, tmp_path):
    make_role(tmp_path, readme_with(role_docs, TABLE))
    (tmp_path / "roles" / "plain").mkdir()
    (tmp_path / "roles" / "plain" / "README.md").write_text("# no spec, no table\n")
    assert role_docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_write_is_idempotent(role_docs, tmp_path, capsys):
    readme = make_role(tmp_path, readme_with(role_docs, "| Variable | Default |\n|---|---|\n| `demo_port` | 1 |\n"))
    assert role_docs.main(["--write", "--root", str(tmp_path)]) == 0
    first = readme.read_text()
    assert first == readme_with(role_docs, TABLE), "only the text between the markers changes"
    assert "1 tables rewritten" in capsys.readouterr().out
    assert role_docs.main(["--write", "--root", str(tmp_path)]) == 0
    assert readme.read_text() == first
    assert "0 tables rewritten" in capsys.readouterr().out
    assert role_docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_entry_points_sharing_main_by_alias(role_docs, tmp_path):
    """Entry points reuse main's options with a YAML alias: the table is main's, once."""
    readme = make_role(tmp_path, readme_with(role_docs, TABLE))
    spec = readme.parent / "meta" / "argument_specs.yml"
    text = spec.read_text().replace("    options:\n", "    options: &main_options\n", 1)
    spec.write_text(text + "  preflight:\n    short_description: Checks.\n    options: *main_options\n")
    assert role_docs.role_options(readme.parent) == role_docs.yaml.safe_load(SPEC)["argument_specs"]["main"]["options"]
    assert role_docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_internal_role_without_main(role_docs, tmp_path):
    """A role with no main entry point (roles/common) documents its one entry point."""
    readme = make_role(tmp_path, readme_with(role_docs, TABLE))
    spec = readme.parent / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text().replace("  main:\n", "  container_store:\n", 1))
    assert role_docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_shipped_readmes_are_in_sync(role_docs, capsys):
    roles = role_docs.roles(ROOT)
    assert {r.name for r in roles} >= {"docker", "postgres", "minio", "mlflow_server", "nginx_proxy",
                                       "sqlite_migration", "mlflow_backup"}
    assert role_docs.main(["--check"]) == 0, capsys.readouterr().out
