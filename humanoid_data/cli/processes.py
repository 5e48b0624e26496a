"""Start and stop node processes the way ``ros2 launch`` would, without it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Sequence

import yaml

from humanoid_data.cli.plan import NodeLaunch
from humanoid_data.dds import dds_environment


class NodeProcess:
    """One node running as a child process with its own parameter file."""

    def __init__(self, launch: NodeLaunch, log_dir: Path | None = None) -> None:
        """Write the parameter file and start the process."""
        self.launch = launch
        self._params = tempfile.NamedTemporaryFile(
            'w', prefix=f'{launch.name}_', suffix='.yaml', delete=False)
        yaml.safe_dump({launch.name: {'ros__parameters': launch.parameters}}, self._params)
        self._params.close()
        command = [sys.executable, '-m', f'humanoid_data.nodes.{launch.executable}',
                   '--ros-args', '-r', f'__node:={launch.name}',
                   '--params-file', self._params.name]
        self._log: IO[bytes] | None = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self._log = (log_dir / f'{launch.name}.log').open('wb')
        if launch.nice:
            command = ['nice', '-n', str(launch.nice)] + command
        self.process = subprocess.Popen(
            command, env=dds_environment(dict(os.environ)),
            stdout=self._log, stderr=subprocess.STDOUT if self._log else None)

    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """Interrupt the node (as Ctrl-C would) and wait; kill it if it hangs."""
        if self.running():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
        Path(self._params.name).unlink(missing_ok=True)
        return self.process.returncode


def start_all(plan: Sequence[NodeLaunch], log_dir: Path | None = None) -> list[NodeProcess]:
    """Start every node of ``plan`` in order."""
    return [NodeProcess(launch, log_dir) for launch in plan]


def stop_all(processes: Sequence[NodeProcess]) -> dict[str, int]:
    """Stop nodes in reverse start order; return each one's exit code."""
    return {p.launch.name: p.stop() for p in reversed(processes)}
