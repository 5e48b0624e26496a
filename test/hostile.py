"""Events any process on the robot's network could publish; no node may fall over them."""

from __future__ import annotations

import json

HOSTILE_EVENTS = [
    json.dumps({'schema': 'humanoid_data.event/1', 'kind': 'note', 'stamp_ns': 2 ** 70,
                'source': 'operator', 'text': 'from the future'}),     # past int64
    '[' * 10_000 + ']' * 10_000,                                         # 10,000 levels deep
    '{"schema": "humanoid_data.event/1", "kind": "contact", "stamp_ns": 5, '
    '"source": "auto", "channel": "wrist/right", "transition": "onset", "peak": NaN}',
    '{"schema": "humanoid_data.event/1", "kind": "episode_end", "stamp_ns": -1}',
    '{' + '\\"' * 30_000,                      # unterminated, escapes: no quadratic scan
]
