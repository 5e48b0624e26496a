"""Camera statistics for meta/stats.json, kept as running sums while encoding."""

from __future__ import annotations

import numpy as np

from humanoid_data.dataset.image_sinks import PixelStats


def test_running_stats_match_numpy_on_the_sampled_frames():
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, size=(23, 6, 5, 3), dtype=np.uint8)
    stats = PixelStats(every=4)
    for frame in frames:
        stats.add(frame)
    sampled = frames[::4].reshape(-1, 3) / 255.0
    result = stats.result()
    assert result['count'] == [len(frames[::4])]
    for name, expected in (('min', sampled.min(0)), ('max', sampled.max(0)),
                           ('mean', sampled.mean(0)), ('std', sampled.std(0))):
        got = np.array(result[name])
        assert got.shape == (3, 1, 1), name
        np.testing.assert_allclose(got.ravel(), expected, rtol=1e-9, atol=1e-12,
                                   err_msg=name)
