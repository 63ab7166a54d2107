# Strategy plugin of the test harness (`make molecule`, `make bench`; MITOGEN=0 switches it off):
# Mitogen's linear strategy for the instances (docker and ssh connections), Ansible's own `local`
# connection on the controller.
#
# Why not mitogen_linear itself: with its `local` connection, Molecule's create and destroy
# playbooks never see their async docker_container jobs finish (async_status retries until it
# gives up), and two verify plays of this suite use async tasks on the controller as well. Tasks
# on the controller are few; the instances are where the time goes (one Python interpreter per
# host instead of one per task).
from __future__ import annotations

import ansible_mitogen.strategy
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as _MitogenLinear

ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS = tuple(
    name for name in ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS if name != "local"
)


class StrategyModule(_MitogenLinear):
    """mitogen_linear, except that `local` keeps Ansible's own connection plugin."""
