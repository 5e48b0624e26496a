"""CPU the simulated humanoid takes per simulated second, in process (no DDS).

The default suite's messages are produced for ``--seconds`` of simulated time (one task
cycle), in 2 ms steps, and the process CPU time is divided by the simulated time: the
share of a core the ``sim_robot`` node needs before publishing anything.

    python bench/sim_cost.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import time

from humanoid_data.core.config import load_suite
from humanoid_data.resources import default_suite
from humanoid_data.sim.humanoid import SimulatedHumanoid


def main() -> None:
    """Produce the messages and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=8.0)
    args = parser.parse_args()
    start = 10 ** 18
    sim = SimulatedHumanoid(load_suite(default_suite()), start_ns=start)
    sim.play_cycle(start + 200_000_000)
    now, messages = start, 0
    cpu = time.process_time()
    while now < start + int(args.seconds * 1e9):
        now += 2_000_000
        messages += len(sim.step(now))
    cpu = time.process_time() - cpu
    print(f'simulated {args.seconds:g} s of the default suite: {messages} messages, '
          f'{cpu / args.seconds:.2f} of a core per simulated second')


if __name__ == '__main__':
    main()
