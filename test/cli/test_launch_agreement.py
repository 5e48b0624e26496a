"""The launch file and ``humanoid-data record`` start the same nodes with the same params.

``launch`` and ``launch_ros`` are not installable from PyPI, so this test loads the launch
file against minimal stand-ins that record what it declares, then evaluates the nodes
for given launch arguments and compares them with ``session_plan``.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from humanoid_data.cli.plan import session_plan

LAUNCH_FILE = Path(__file__).resolve().parents[2] / 'launch' / 'record_session.launch.py'


class _Config:
    def __init__(self, name):
        self.name = name


class _Expression:
    """``PythonExpression``: its parts joined and evaluated, as launch does."""

    def __init__(self, parts):
        self.parts = parts


class _Declared:
    def __init__(self, name, default_value='', description=''):
        self.name, self.default = name, default_value


class _If:
    def __init__(self, value):
        self.value = value


class _Node:
    def __init__(self, package, executable, name, parameters, condition=None, output='',
                 prefix=''):
        self.package, self.executable, self.name = package, executable, name
        self.parameters, self.condition = parameters, condition
        self.nice = int(prefix.split()[-1]) if prefix.startswith('nice -n') else 0


def _stub_modules(monkeypatch, share):
    def module(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, mod)
    module('launch', LaunchDescription=lambda actions: actions)
    module('launch.actions', DeclareLaunchArgument=_Declared,
           SetEnvironmentVariable=lambda name, value: ('env', name, value))
    module('launch.conditions', IfCondition=_If)
    module('launch.substitutions', LaunchConfiguration=_Config,
           PythonExpression=_Expression)
    module('launch_ros')
    module('launch_ros.actions', Node=_Node)
    module('ament_index_python')
    module('ament_index_python.packages', get_package_share_directory=lambda _: share)


def _evaluate(actions, arguments):
    values = {a.name: a.default for a in actions if isinstance(a, _Declared)}
    values.update(arguments)

    def resolve(value):
        if isinstance(value, _Expression):
            return eval(''.join(str(resolve(part)) for part in value.parts))  # as launch
        return values[value.name] if isinstance(value, _Config) else value
    nodes = []
    for action in actions:
        if not isinstance(action, _Node):
            continue
        if action.condition is not None and str(
                resolve(action.condition.value)).lower() != 'true':
            continue
        params = {}
        for group in action.parameters:
            params.update({k: resolve(v) for k, v in group.items()})
        nodes.append((action.package, action.executable, action.name, params, action.nice))
    return nodes


@pytest.mark.parametrize('sim, companions, contact_monitor, teleop, sync_monitor', [
    (True, True, False, True, False), (False, True, False, True, True),
    (True, True, True, True, False), (True, False, False, False, False),
    (False, False, True, True, True)])
def test_launch_file_matches_record_plan(monkeypatch, tmp_path, sim, companions,
                                         contact_monitor, teleop, sync_monitor):
    _stub_modules(monkeypatch, str(tmp_path))
    spec = importlib.util.spec_from_file_location('record_session_launch', LAUNCH_FILE)
    launch_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_module)
    actions = launch_module.generate_launch_description()
    flag = {True: 'true', False: 'false'}
    arguments = {'config': '/robot/suite.yaml', 'output_dir': '/data/rec', 'sim': flag[sim],
                 'companions': flag[companions], 'contact_monitor': flag[contact_monitor],
                 'teleop': flag[teleop],
                 'sync_monitor': flag[sync_monitor]}
    from_launch = _evaluate(actions, arguments)
    plan = session_plan('/robot/suite.yaml', '/data/rec', sim, companions=companions,
                        contact_monitor=contact_monitor, teleop=teleop,
                        sync_monitor=sync_monitor)
    assert from_launch == [('humanoid_data', n.executable, n.name, n.parameters, n.nice)
                           for n in plan]


def test_launch_defaults_point_at_installed_share(monkeypatch, tmp_path):
    _stub_modules(monkeypatch, str(tmp_path))
    monkeypatch.delenv('FASTDDS_DEFAULT_PROFILES_FILE', raising=False)
    monkeypatch.delenv('FASTRTPS_DEFAULT_PROFILES_FILE', raising=False)
    spec = importlib.util.spec_from_file_location('record_session_launch2', LAUNCH_FILE)
    launch_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_module)
    actions = launch_module.generate_launch_description()
    defaults = {a.name: a.default for a in actions if isinstance(a, _Declared)}
    assert defaults['config'] == str(tmp_path / 'config' / 'humanoid.yaml')
    # contacts are detected in the recorder unless asked otherwise, as session_plan does
    assert (defaults['companions'], defaults['contact_monitor']) == ('true', 'false')
    envs = [a for a in actions if isinstance(a, tuple)]
    assert ('env', 'FASTDDS_DEFAULT_PROFILES_FILE',
            str(tmp_path / 'config' / 'fastdds_profile.xml')) in envs


def test_console_scripts_exist_for_every_planned_executable():
    setup_py = (LAUNCH_FILE.parents[1] / 'setup.py').read_text()
    for node in session_plan('c', 'o', True, sync_monitor=True):
        assert f"'{node.executable} = humanoid_data.nodes.{node.executable}:main'" in setup_py
