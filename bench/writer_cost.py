"""What the recorder does beyond receiving, per message, without DDS.

The recorder's CPU is the receive floor (what any rclpy subscriber pays per message, see
``record_throughput.py``) plus its own work: the executor-side ``offer`` (stamp, queue)
and the writer thread (hold, ring, episode routing, figures, the mcap writer, chunk
compression and CRC). This bench feeds the default suite's messages (rendered once by
the simulated humanoid, re-stamped on the suite's schedule) straight into a
``RecorderEngine`` on a simulated clock, one episode covering them all, and prints the
process CPU per message for each chunk compression (the least of ``--repeat`` runs),
with the parts measured apart:

- the bag alone (``EpisodeBag.write`` and its flushes),
- the chunk compression alone (the same bytes in 4 MiB chunks, as the bag closes them).

    python bench/writer_cost.py [--seconds 3] [--floor-us 50]

``--floor-us`` is the receive floor of ``record_throughput.py`` on this machine; the
recorder meets 1.3x the floor only if its own work costs at most 0.3 of it, and the
bench prints each figure as a ratio to that budget.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import lz4.frame
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_publisher import render_templates  # noqa: E402  (the bench folder)

from humanoid_data.bag.episode_bag import (  # noqa: E402
    MAX_CHUNK_BYTES, Compression, EpisodeBag)
from humanoid_data.bag.stamps import with_header_stamp  # noqa: E402
from humanoid_data.bag.tf_cdr import MSGTYPE as TF_TYPE  # noqa: E402
from humanoid_data.bag.tf_cdr import restamp as tf_restamp  # noqa: E402
from humanoid_data.core.config import load_suite  # noqa: E402
from humanoid_data.core.settings import RecorderSettings  # noqa: E402
from humanoid_data.core.topics import topics_for  # noqa: E402
from humanoid_data.recording.engine import RecorderEngine  # noqa: E402
from humanoid_data.recording.session import Session  # noqa: E402
from humanoid_data.resources import default_suite  # noqa: E402

T0 = 10 ** 18


def schedule(suite, seconds: float) -> list[tuple[int, str, bytes]]:
    """(receive time, topic, message) of every stream on its rate, in time order."""
    templates = render_templates(suite, {s.topic for s in suite.streamed})
    out = []
    for stream in suite.streamed:
        period = int(1e9 / stream.rate_hz)
        for k in range(int(seconds * stream.rate_hz)):
            stamp = T0 + k * period
            data = templates[stream.topic][k % len(templates[stream.topic])]
            data = (tf_restamp(data, stamp) if stream.msgtype == TF_TYPE
                    else with_header_stamp(data, stamp))
            out.append((stamp + 2_000_000, stream.topic, data))   # received 2 ms later
    out.sort(key=lambda m: m[0])
    return out


def engine_cost(suite, messages, compression: str) -> float:
    """Process CPU seconds to record ``messages`` as one episode."""
    now = [T0 - 1]
    with tempfile.TemporaryDirectory(prefix='humanoid_data_writer_cost_') as tmp:
        session = Session(Path(tmp), 'bench', suite)
        topics = topics_for(suite)
        index = {t.topic: i for i, t in enumerate(topics)}
        engine = RecorderEngine(topics, session,
                                RecorderSettings(compression=compression, queue_mib=4096),
                                logging.getLogger('writer_cost'), clock=lambda: now[0])
        start = time.process_time()
        engine.start_episode(stamp_ns=T0)
        for receive_ns, topic, data in messages:
            now[0] = receive_ns
            engine.offer(index[topic], data)
        engine.stop_episode(stamp_ns=messages[-1][0])
        now[0] += 10 ** 11              # past the hold and the grace: everything closes
        engine.close(timeout=600)
        cpu = time.process_time() - start
        written = sum(engine.written)
        if written < len(messages):
            sys.exit(f'only {written} of {len(messages)} messages were written')
    return cpu


def bag_cost(suite, messages, compression: str) -> float:
    """Process CPU seconds for the bag alone to write ``messages``."""
    with tempfile.TemporaryDirectory(prefix='humanoid_data_writer_cost_') as tmp:
        topics = topics_for(suite)
        index = {t.topic: i for i, t in enumerate(topics)}
        bag = EpisodeBag(Path(tmp) / 'ep', topics, compression=Compression(compression))
        start = time.process_time()
        flush_at = messages[0][0] + 250_000_000
        for receive_ns, topic, data in messages:
            if receive_ns >= flush_at:       # the writer's flush period
                bag.flush()
                flush_at += 250_000_000
            bag.write(index[topic], receive_ns, data)
        bag.close(sync=False)
        return time.process_time() - start


def compress_cost(messages, compression: str) -> float:
    """Process CPU seconds to compress the messages' bytes in chunks as the bag does."""
    compress = {'lz4': lz4.frame.compress, 'zstd': zstandard.compress}.get(compression)
    if compress is None:
        return 0.0
    chunks, piece, size = [], [], 0
    for _, _, data in messages:
        piece.append(data)
        size += len(data)
        if size >= MAX_CHUNK_BYTES:
            chunks.append(b''.join(piece))
            piece, size = [], 0
    chunks.append(b''.join(piece))
    start = time.process_time()
    for chunk in chunks:
        compress(chunk)
    return time.process_time() - start


def main() -> None:
    """Print the recorder's own CPU per message for each compression, with its parts."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=3.0, help='of the suite at 1x')
    parser.add_argument('--floor-us', type=float, default=50.0,
                        help='receive floor per message (record_throughput.py)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs of each measurement; the least CPU is kept')
    args = parser.parse_args()
    suite = load_suite(default_suite())
    messages = schedule(suite, args.seconds)
    n = len(messages)
    mb = sum(len(m[2]) for m in messages) / 1e6
    budget = 0.3 * args.floor_us
    print(f'{n} messages, {mb:.0f} MB: {args.seconds:g} s of the default suite at 1x; '
          f'budget for the recorder\'s own work at 1.3x a {args.floor_us:g} us floor: '
          f'{budget:.1f} us a message')
    for compression in ('none', 'lz4', 'zstd'):
        whole, bag, squeeze = (1e6 * min(cost(*a) for _ in range(args.repeat)) / n
                               for cost, a in ((engine_cost, (suite, messages, compression)),
                                               (bag_cost, (suite, messages, compression)),
                                               (compress_cost, (messages, compression))))
        print(f'{compression:5s}: recorder engine {whole:5.1f} us/msg ({whole / budget:.2f} x '
              f'the budget); of it the bag {bag:5.1f} us (compression {squeeze:4.1f} us), '
              f'hold, ring, routing, figures and the queue {whole - bag:5.1f} us')


if __name__ == '__main__':
    main()
