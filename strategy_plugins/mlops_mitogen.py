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


def _template_code_directory(run_tmp, hashlib):
    """~/.ansible/tmp/mlops-jinja-code-<versions> when it is the user's own and private; else this
    run's temporary directory (removed at the end of the run)."""
    import sys

    import jinja2
    from ansible.release import __version__ as core_version

    versions = hashlib.sha256(repr((sys.version, jinja2.__version__, core_version)).encode()).hexdigest()[:16]
    for directory in (os.path.join(os.path.dirname(run_tmp), "mlops-jinja-code-" + versions),
                      os.path.join(run_tmp, "mlops-jinja-code")):
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            status = os.stat(directory)
        except OSError:
            continue
        if status.st_uid == os.getuid() and not status.st_mode & 0o077:
            return directory
    return None


def _share_compiled_templates():
    """Every task runs in a worker process forked from the controller, and ansible-core 2.19 keeps
    no compiled Jinja templates: each worker parses, generates and compiles again the templates and
    conditions its task reads (the role variables' expressions above all) - 2,557 compilations in a
    production run with nothing to change, 3.2 of the workers' 16.7 s (cProfile). Jinja's code for
    a template depends only on its text and the environment's settings: the first worker that
    compiles one leaves the code object (marshal) in a private directory and the next ones load it. The debugger
    option of ansible-core and any other version: nothing changes.
    The code stays for later runs in ~/.ansible/tmp/mlops-jinja-code-<versions> (a directory per
    Python, Jinja and ansible-core version, private to the user like ~/.ansible/tmp itself): a run
    compiles only what it has not met before (README, "Faster runs")."""
    try:
        import hashlib
        import marshal

        from ansible import constants as C
        from ansible._internal._templating import _jinja_bits
        from jinja2 import nodes
        from jinja2.environment import Environment, TemplateExpression
        from jinja2.parser import Parser
    except ImportError:
        return
    env_class = getattr(_jinja_bits, "AnsibleEnvironment", None)
    context = getattr(_jinja_bits, "_TemplateCompileContext", None)
    fields = getattr(_jinja_bits, "_TEMPLATE_OVERRIDE_FIELD_NAMES", None)
    if env_class is None or context is None or fields is None or "compile" in vars(env_class) \
            or "compile_expression" not in vars(env_class):
        return
    directory = _template_code_directory(C.DEFAULT_LOCAL_TMP, hashlib)
    if directory is None:
        return
    memo = {}
    settings = tuple(fields) + ("optimized", "is_async", "autoescape", "keep_trailing_newline", "newline_sequence")
    compile_expression = env_class.compile_expression

    def _code(env, what, build):
        current = context.current(optional=True)
        key = repr((type(env).__qualname__, what, current.escape_backslashes if current else None,
                    tuple(getattr(env, setting, None) for setting in settings)))
        code = memo.get(key)
        if code is not None:
            return code
        path = os.path.join(directory, hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest())
        try:
            with open(path, "rb") as stored:
                code = marshal.load(stored)
        except (OSError, EOFError, ValueError, TypeError):
            code = build()
            try:
                scratch = "%s.%d" % (path, os.getpid())
                with open(scratch, "wb") as stored:
                    marshal.dump(code, stored)
                os.replace(scratch, path)
            except (OSError, ValueError):
                pass
        memo[key] = code
        return code

    def _compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or not isinstance(source, str) or getattr(self, "_debuggable_template_source", False):
            return Environment.compile(self, source, name, filename, raw, defer_init)
        return _code(self, ("template", str(source), name, filename, defer_init),
                     lambda: Environment.compile(self, source, name, filename, raw, defer_init))

    def _expression_code(env, source):
        # what jinja2's Environment.compile_expression does, keeping the code object
        parser = Parser(env, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise ValueError("chunk after expression")  # the original call below reports it
        expression.set_environment(env)
        body = [nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)]
        return Environment.compile(env, nodes.Template(body, lineno=1))

    def _compile_expression(self, source, undefined_to_none=True):
        if not isinstance(source, str) or getattr(self, "_debuggable_template_source", False):
            return compile_expression(self, source, undefined_to_none)
        try:
            code = _code(self, ("expression", str(source)), lambda: _expression_code(self, source))
        except Exception:  # pylint: disable=broad-except  # a syntax error: Jinja's own call raises it as usual
            return compile_expression(self, source, undefined_to_none)
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        return TemplateExpression(template, undefined_to_none)

    env_class.compile = _compile
    env_class.compile_expression = _compile_expression


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


_TEMPLATES_SHARED = []


class StrategyModule(_Base):
    """Mitogen's linear strategy for ssh and docker hosts when it can run, else Ansible's linear."""

    def run(self, iterator, play_context):
        if MITOGEN:
            _cache_collection_dirs()  # per play: collections paths come from the configuration
        _warm_plugins()
        if not _TEMPLATES_SHARED:
            _TEMPLATES_SHARED.append(_share_compiled_templates())
        return super().run(iterator, play_context)
