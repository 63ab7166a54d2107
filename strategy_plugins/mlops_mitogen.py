# The default strategy of this repository's ansible.cfg (README "Faster runs"): Mitogen's linear
# strategy when the `mitogen` package (requirements.txt) is installed and supports this
# ansible-core, Ansible's own `linear` otherwise (with one warning). Same task order and results
# as `linear`: one Python interpreter per host for the whole run instead of one per task.
#
# Ansible's own `local` connection stays (Mitogen takes ssh and docker): under Mitogen's `local`,
# the async docker_container jobs of Molecule's create/destroy playbooks never finish.
# MLOPS_MITOGEN_LOCAL=1 takes `local` to Mitogen as well (`make local`: no async tasks there).
#
# Off for one run: ANSIBLE_STRATEGY=linear ansible-playbook ...
from __future__ import annotations

import os

from ansible.utils.display import Display

try:
    import ansible_mitogen.strategy
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as _Base
except Exception as exc:  # ImportError, or ansible_mitogen's AnsibleError for an unsupported core
    from ansible.plugins.strategy.linear import StrategyModule as _Base

    Display().warning(
        "mlops_mitogen: Mitogen is not available (%s); running Ansible's linear strategy "
        "(pip install -r requirements.txt for faster runs)" % (exc,)
    )
    MITOGEN = False
else:
    if os.environ.get("MLOPS_MITOGEN_LOCAL") != "1":
        ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS = tuple(
            name for name in ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS if name != "local"
        )
    MITOGEN = True


def _cache_collection_dirs():
    """Mitogen lists every installed collection (the `ansible` package ships about 100) the first
    time a worker process runs a module of a collection, and every task has a worker process of its
    own: 0.19 s per such task here, 5 s of a 35 s run with nothing to change. The list cannot
    change during a run; read it once in the controller, before the workers are forked."""
    try:
        import ansible.collections.list
        from ansible_mitogen import planner
    except ImportError:
        return
    if not callable(getattr(planner, "_load_collections", None)):
        return  # another Mitogen version: leave it as it is
    dirs = [path.decode("utf-8") for path in ansible.collections.list.list_collection_dirs()]

    def _load_collections(invocation):
        invocation._extra_sys_paths.update(dirs)

    planner._load_collections = _load_collections


def _cache_module_scans():
    """Before a module runs, Mitogen's multiplexer lists the module_utils it imports by compiling
    the module and, one by one, every module_utils file it reaches - again for each module: the
    ~30 modules of a production run compile ansible.module_utils.basic and its ~40 siblings ~30
    times, 4.5 s of a 29 s run with nothing to change (py-spy). A file compiles to the same code
    every time: keep it, keyed by its name and text (an edited file is compiled again). The
    multiplexer is forked from the controller after this runs."""
    try:
        from ansible_mitogen import module_finder
    except ImportError:
        return
    if not callable(getattr(module_finder, "_scan_importlib_find_spec", None)):
        return  # another Mitogen version: leave it as it is
    codes = {}

    def _compile(source, filename, mode, *args, **kwargs):
        key = (filename, mode, source)
        if key not in codes:
            codes[key] = compile(source, filename, mode, *args, **kwargs)
        return codes[key]

    module_finder.compile = _compile  # the name the scanner calls; builtins stay as they are


if MITOGEN:
    _cache_module_scans()  # once: the multiplexer is forked when the first play starts


# Plugins every task of the collection's roles resolves. Ansible runs each task in a process
# forked from the controller and loads filter, test and connection plugins there, on first use: a
# worker of a production run imported the five builtin filter files, four test files, the
# collection's six filter files and Mitogen's connection plugin again, ~2,000 imports and 5 s of a
# 31 s run with nothing to change. Loaded once here, before the fork, every worker inherits them.
_WARM = (
    ("filter", "ansible.builtin.to_json"),
    ("test", "ansible.builtin.match"),
    ("filter", "mlops.mlflow.stack"),
    ("test", "mlops.mlflow.placeholder"),
    ("lookup", "ansible.builtin.vars"),
    ("lookup", "ansible.builtin.varnames"),
    ("lookup", "ansible.builtin.file"),
)


def _warm_plugins():
    from ansible.plugins import loader

    loaders = {"filter": loader.filter_loader, "test": loader.test_loader, "lookup": loader.lookup_loader}
    for kind, name in _WARM:
        try:
            loaders[kind].get_with_context(name)
        except Exception:  # pylint: disable=broad-except  # a missing plugin is the task's error, not ours
            pass
    if MITOGEN:
        for name in ("mitogen_docker", "mitogen_ssh"):
            try:
                loader.connection_loader.get(name, class_only=True)
            except Exception:  # pylint: disable=broad-except
                pass


class StrategyModule(_Base):
    """Mitogen's linear strategy for ssh and docker hosts when it can run, else Ansible's linear."""

    def run(self, iterator, play_context):
        if MITOGEN:
            _cache_collection_dirs()  # per play: collections paths come from the configuration
        _warm_plugins()
        return super().run(iterator, play_context)
