"""Review workbench figures, measured on the real server: episode JSON, first frame, seeks, memory.

Prints, with nothing asserted:

* proxy build time of a camera of a recorded episode (uncached, ``make_proxy`` in this
  process) and the cache hit time, against the episode's duration; the same for a
  synthetic episode of 640x480 JPEG images (``--long-s`` seconds; 0 skips it);
* for each of those, and for a long episode (``--minutes``, default 10), through the
  real review server (``humanoid-data review SESSION --port 0`` in its own process, a
  fresh one per episode, proxies in an empty cache):
  - ``GET /api/episodes/<s>/<e>`` uncached (the bag read) and cached;
  - in headless Chromium, from setting ``video.src`` to the camera's video URL to its
    first frame (``loadeddata``): uncached (the proxy built on demand) and cached, and
    their sum with the JSON (the page asks for the JSON, then the video);
  - the latency of ``--seeks`` random frame seeks (``currentTime = (k + 0.5) / fps``
    until ``seeked``), p50 and p99 against the frame period, and how many seeks
    presented another frame than k;
  - the server process's RSS at idle after start, after the episode JSON, after the
    proxy build, and the peak (sampled every 20 ms), with the growth per minute of
    episode;
* a table of all of it.

The long episode is a session written in a temporary folder by
``bench/convert_memory.py``'s ``write_episode`` (a suite.yaml and an episode.yaml as a
recording has): the default suite's high-rate non-image streams at their full rates
(joint states 500 Hz, joint command 100 Hz, both wrists' force-torque 1 kHz, ten tactile
pads 200 Hz, IMU 400 Hz) and one RGB camera, ``head_rgb`` at 30 Hz in ``--width`` x
``--height`` (320x240: about 7 MB/s of bag, 4.2 GB for 10 minutes; halved until it fits
in half the free disk). ``--skip-long`` runs the short part only. Everything written is
removed at the end.

    python bench/review.py [--minutes 10] [--seeks 100] [--skip-long] [--episodes 1]
        [--long-s 60] [--width 320 --height 240]

``measure_in_browser(url_of_video, fps, frames, seeks)`` takes any video URL (add
``?token=...`` if the server needs one). Chromium and chromedriver are taken from
``$CHROMIUM`` and ``$CHROMEDRIVER``, else from the PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))      # convert_memory and what it imports

from humanoid_data.bag import encode  # noqa: E402
from humanoid_data.bag.episode_bag import EpisodeBag  # noqa: E402
from humanoid_data.bag.typestore import typestore_for  # noqa: E402
from humanoid_data.core.config import load_suite  # noqa: E402
from humanoid_data.core.topics import topics_for  # noqa: E402
from humanoid_data.resources import default_suite  # noqa: E402
from humanoid_data.review.proxy import Proxy, camera_streams, make_proxy  # noqa: E402
from test.dataset.recording import record  # noqa: E402

from convert_memory import write_episode  # noqa: E402  (bench/)

CHROMIUM_ARGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run', '--mute-audio')
#: The long episode: these modalities of the default suite at full rate, and one camera.
LONG_MODALITIES = ('joint_state', 'command', 'wrench', 'tactile', 'imu')
LONG_CAMERA = 'head_rgb'
#: The page the video goes into: of the server's origin, with no script.
BLANK_PAGE = '/static/style.css'

_LOAD_JS = """
const [url, done] = [arguments[0], arguments[arguments.length - 1]];
const video = document.createElement('video');
video.muted = true;
video.preload = 'auto';
document.body.appendChild(video);
window.benchVideo = video;
const start = performance.now();
video.addEventListener('loadeddata', () => done({
  ms: performance.now() - start, ready_state: video.readyState, duration: video.duration,
  width: video.videoWidth, height: video.videoHeight}), {once: true});
video.addEventListener('error', () => done({
  error: video.error ? `${video.error.code} ${video.error.message}` : 'error'}),
  {once: true});
video.src = url;
"""

# Seeks one after the other, each timed until 'seeked'. A frame callback asked for just
# before the seek reports the frame the player then presents (its mediaTime says which);
# the next seek waits for it, at most 500 ms after 'seeked' (null when none comes).
_SEEK_JS = """
const [times, done] = [arguments[0], arguments[arguments.length - 1]];
const video = window.benchVideo;
const out = [];
function step(i) {
  if (i >= times.length) { done(out); return; }
  const record = {target: times[i], media_time: null};
  let seeked = false, shown = !video.requestVideoFrameCallback, finished = false;
  const finish = () => {
    if (!finished && seeked && shown) { finished = true; out.push(record); step(i + 1); }
  };
  if (!shown) {
    video.requestVideoFrameCallback((now, meta) => {
      if (finished) return;
      record.media_time = meta.mediaTime; shown = true; finish(); });
  }
  const start = performance.now();
  video.addEventListener('seeked', () => {
    record.ms = performance.now() - start;
    record.current_time = video.currentTime;
    seeked = true;
    finish();
    setTimeout(() => { shown = true; finish(); }, 500);
  }, {once: true});
  video.currentTime = times[i];
}
step(0);
"""


def chromium(profile: Path) -> Any:
    """A headless Chromium keeping its profile in ``profile`` (``quit()`` it when done)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    binary = os.environ.get('CHROMIUM') or shutil.which('chromium') or 'chromium'
    driver_path = (os.environ.get('CHROMEDRIVER') or shutil.which('chromedriver')
                   or 'chromedriver')
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in CHROMIUM_ARGS + (f'--user-data-dir={profile}',):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(600)
    return driver


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, nearest rank."""
    ordered = sorted(values)
    rank = max(1, int(np.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def measure_in_browser(url_of_video: str, fps: float, frames: int, seeks: int, *,
                       page_url: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Load a video in a fresh headless Chromium, then seek to random frames.

    Args:
        url_of_video: The video's URL (a proxy served by the bench or the review server).
        fps: The video's frame rate; frame k is shown over [k/fps, (k+1)/fps).
        frames: Frames of the video.
        seeks: Random frame seeks to time, each to (k + 0.5) / fps.
        page_url: The page the video element goes into (same origin as the video is
            best); ``about:blank`` when None.
        seed: Of the random frames.

    Returns:
        ``load_ms`` (src set to ``loadeddata``), ``ready_state``, ``duration_s``, ``width``,
        ``height``, ``seek_ms`` (each seek), ``seek_p50_ms``, ``seek_p99_ms``,
        ``wrong_frames`` (seeks that presented another frame than k), ``unseen_frames``
        (no frame presented to check), or ``error`` when the video does not load.

    """
    rng = random.Random(seed)
    targets = [rng.randrange(frames) for _ in range(seeks)]
    with tempfile.TemporaryDirectory(prefix='bench_review_chromium_') as profile:
        driver = chromium(Path(profile))
        try:
            driver.get(page_url or 'about:blank')
            loaded = driver.execute_async_script(_LOAD_JS, url_of_video)
            if 'error' in loaded:
                return {'error': loaded['error']}
            records = driver.execute_async_script(_SEEK_JS,
                                                  [(k + 0.5) / fps for k in targets])
        finally:
            driver.quit()
    seek_ms = [float(r['ms']) for r in records]
    shown = [(k, r['media_time']) for k, r in zip(targets, records)]
    return {
        'load_ms': float(loaded['ms']), 'ready_state': loaded['ready_state'],
        'duration_s': loaded['duration'], 'width': loaded['width'],
        'height': loaded['height'], 'seek_ms': seek_ms,
        'seek_p50_ms': percentile(seek_ms, 50) if seek_ms else float('nan'),
        'seek_p99_ms': percentile(seek_ms, 99) if seek_ms else float('nan'),
        'wrong_frames': sum(1 for k, t in shown
                            if t is not None and round(t * fps) != k),
        'unseen_frames': sum(1 for _, t in shown if t is None),
    }


class ReviewServer:
    """The real workbench, ``humanoid-data review SESSION --port 0``, in its own process.

    Its stdout's first line says the URL; its stderr goes to a file shown when it fails.
    ``rss_mb()`` is the process's resident memory (with any children it started).
    """

    def __init__(self, session: Path, cache: Path, log: Path) -> None:
        """Serve ``session`` with proxies kept in ``cache`` (empty: built on demand)."""
        import psutil
        self.log = log
        self._stderr = log.open('wb')
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'humanoid_data.cli.main', 'review', str(session),
             '--port', '0', '--annotator', 'bench', '--cache', str(cache)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r'(http://\S+?)/?(\?\S*)?$', line.strip())
        if found is None:
            self.close()
            raise RuntimeError(f'the review server did not start: {line!r}\n'
                               f'{log.read_text(errors="replace")}')
        self.url = found.group(1)
        self.process = psutil.Process(self.proc.pid)

    def rss_mb(self) -> float:
        """Resident memory of the server now, MB (0 when it is gone)."""
        import psutil
        try:
            total = self.process.memory_info().rss
            for child in self.process.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            return 0.0
        return total / 1e6

    def get(self, path: str) -> tuple[float, bytes]:
        """Seconds a ``GET`` of ``path`` takes to its last byte, and the body."""
        from urllib.request import urlopen
        start = time.perf_counter()
        with urlopen(self.url + path, timeout=3600) as response:
            body = response.read()
        return time.perf_counter() - start, body

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


class RssSampler:
    """Samples a server's RSS every ``interval`` s in a thread; ``peak`` since ``reset()``."""

    def __init__(self, server: ReviewServer, interval: float = 0.02) -> None:
        """Start sampling ``server``."""
        self.server = server
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_mb())
            self._stop.wait(self.interval)

    def reset(self) -> None:
        """Start a new peak from the RSS now."""
        self.peak = self.server.rss_mb()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


def long_suite(path: Path, width: int, height: int) -> Path:
    """The default suite cut to its high-rate non-image streams (joint states and command,
    both wrist force-torque sensors, every tactile pad, the IMU, all at their full rate)
    and one RGB camera, ``head_rgb`` at 30 Hz in ``width`` x ``height``; written to ``path``.
    """
    data = yaml.safe_load(default_suite().read_text())
    data['streams'] = [s for s in data['streams']
                       if s['modality'] in LONG_MODALITIES or s['name'] == LONG_CAMERA]
    for stream in data['streams']:
        if stream['name'] == LONG_CAMERA:
            stream['width'], stream['height'], stream['rate_hz'] = width, height, 30
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def long_bytes(minutes: float, width: int, height: int) -> float:
    """About how many bytes the long episode's bag takes (rgb8 frames plus ~1.5 MB/s)."""
    return minutes * 60 * (30 * width * height * 3 + 1.5e6)


def fit_resolution(minutes: float, width: int, height: int,
                   free_bytes: float) -> tuple[int, int]:
    """``width`` x ``height``, halved until the bag and its proxy take at most half of
    ``free_bytes`` (at least 80 x 60)."""
    while long_bytes(minutes, width, height) * 1.1 > free_bytes / 2 and width > 80:
        width, height = width // 2, height // 2
    return width, height


def synthetic_episode(root: Path, seconds: float, width: int = 640, height: int = 480,
                      fps: float = 30.0) -> Path:
    """A session with one episode of a JPEG camera (a panning textured scene, a moving box).

    Written with the project's bag writer; returns the episode folder.
    """
    import cv2
    session = root / 'jpeg'
    session.mkdir(parents=True)
    suite_data = {'robot': 'synthetic', 'joints': ['j0'], 'streams': [{
        'name': 'head_rgb', 'topic': '/camera/head/image_raw/compressed',
        'type': 'sensor_msgs/msg/CompressedImage', 'modality': 'rgb', 'rate_hz': fps}]}
    (session / 'suite.yaml').write_text(yaml.safe_dump(suite_data))
    suite = load_suite(session / 'suite.yaml')
    store = typestore_for()
    compressed = store.types['sensor_msgs/msg/CompressedImage']
    rng = np.random.default_rng(1)
    texture = cv2.resize(rng.integers(0, 255, (height // 8, width // 4, 3), dtype=np.uint8),
                         (2 * width, height), interpolation=cv2.INTER_CUBIC)
    bag = EpisodeBag(session / 'episode_0001', topics_for(suite))
    period_ns = round(1e9 / fps)
    start_ns = 10 ** 15
    for k in range(int(seconds * fps)):
        shift = (3 * k) % width
        image = np.ascontiguousarray(texture[:, shift:shift + width])
        x = int((width - 80) * (0.5 + 0.5 * np.sin(k / 40)))
        cv2.rectangle(image, (x, height // 3), (x + 80, height // 3 + 80), (20, 200, 40), -1)
        ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        stamp = start_ns + k * period_ns
        message = compressed(encode.header(stamp, 'head'), 'jpeg', data.reshape(-1))
        bag.write(0, stamp + 2_000_000, store.serialize_cdr(
            message, 'sensor_msgs/msg/CompressedImage').tobytes())
    bag.close()
    return session / 'episode_0001'


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``action`` takes, and what it returns."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def duration_s(proxy: Proxy) -> float:
    """The video's duration: frames over rate."""
    return proxy.frames / proxy.fps


def build_figures(name: str, episode: Path, camera: str, cache: Path) -> Proxy:
    """Print the uncached build and cache hit times of one camera; return its proxy."""
    build_s, proxy = timed(lambda: make_proxy(episode, camera, cache))
    hits = [timed(lambda: make_proxy(episode, camera, cache))[0] for _ in range(20)]
    hit_s = statistics.median(hits)
    length = duration_s(proxy)
    size_mb = proxy.path.stat().st_size / 1e6
    print(f'{name} {camera}: {proxy.frames} frames {proxy.width}x{proxy.height} at '
          f'{proxy.fps:g} fps ({length:.1f} s), proxy {size_mb:.2f} MB')
    print(f'  build (uncached)      {build_s * 1e3:9.1f} ms   build / episode duration '
          f'{build_s / length:.3f}   ({proxy.frames / build_s:.0f} frames/s)')
    print(f'  cache hit (median/20) {hit_s * 1e3:9.2f} ms   hit / frame period '
          f'{hit_s * proxy.fps:.3f}')
    return proxy


def server_figures(label: str, session: Path, episode: str, camera: str, seeks: int,
                   work: Path) -> dict[str, Any]:
    """Measure one camera of one episode through a fresh review server; print and return.

    In order: the server's RSS at idle after start; ``GET /api/episodes``; ``GET
    /api/episodes/<s>/<e>`` uncached (the bag read) then cached (median of 5); in
    Chromium the first frame of the camera's video uncached (proxy built on demand) then
    cached, then ``seeks`` random frame seeks; the RSS after the episode JSON and after
    the proxy, and the peak sampled every 20 ms over each step.
    """
    cache = work / f'cache_{label}'
    server = ReviewServer(session, cache, work / f'server_{label}.log')
    sampler = None
    try:
        time.sleep(1.0)
        idle = server.rss_mb()
        sampler = RssSampler(server)
        list_s, _ = server.get('/api/episodes')
        path = f'/api/episodes/{session.name}/{episode}'
        sampler.reset()
        json_cold_s, body = server.get(path)
        after_json, peak_json = server.rss_mb(), sampler.peak
        json_warm_s = statistics.median(server.get(path)[0] for _ in range(5))
        data = json.loads(body)
        cam = next(c for c in data['cameras'] if c['name'] == camera)
        fps, frames = float(cam['fps']), int(cam['frames'])
        length = data['duration_ns'] / 1e9
        url = server.url + cam['video']
        # A page of the server's origin that runs nothing and asks for nothing (the
        # workbench page would open an episode itself; about:blank may not load http
        # media): a static asset, shown by Chromium as text in a document with a body.
        page = server.url + BLANK_PAGE
        sampler.reset()
        cold = measure_in_browser(url, fps, frames, 0, page_url=page)
        after_proxy, peak_proxy = server.rss_mb(), sampler.peak
        sampler.reset()
        warm = measure_in_browser(url, fps, frames, seeks, page_url=page)
        peak_warm = sampler.peak
        end = server.rss_mb()
    finally:
        if sampler is not None:
            sampler.stop()
        server.close()
    proxy_mb = sum(f.stat().st_size for f in cache.rglob('*.mp4')) / 1e6
    minutes = length / 60
    period_ms = 1e3 / fps
    row: dict[str, Any] = {
        'label': label, 'duration_s': length, 'frames': frames, 'fps': fps,
        'json_mb': len(body) / 1e6, 'list_ms': list_s * 1e3,
        'json_cold_ms': json_cold_s * 1e3, 'json_warm_ms': json_warm_s * 1e3,
        'rss_idle': idle, 'rss_json': after_json, 'rss_proxy': after_proxy, 'rss_end': end,
        'peak': max(peak_json, peak_proxy, peak_warm), 'peak_json': peak_json,
        'peak_proxy': peak_proxy, 'proxy_mb': proxy_mb, 'seeks': seeks}
    for tag, result in (('uncached', cold), ('cached', warm)):
        if 'error' in result:
            print(f'{label} {camera}: the video does not load ({tag}): {result["error"]}')
            row['error'] = f'{tag}: {result["error"]}'
            return row
    row.update({
        'ff_cold_ms': cold['load_ms'], 'ff_warm_ms': warm['load_ms'],
        'seek_p50_ms': warm['seek_p50_ms'], 'seek_p99_ms': warm['seek_p99_ms'],
        'wrong': warm['wrong_frames'], 'unseen': warm['unseen_frames'],
        'size': f'{warm["width"]}x{warm["height"]}'})
    open_cold = json_cold_s * 1e3 + cold['load_ms']
    open_warm = json_warm_s * 1e3 + warm['load_ms']
    row.update({'open_cold_ms': open_cold, 'open_warm_ms': open_warm})
    print(f'{label} {session.name}/{episode} {camera} through the review server '
          f'({length:.1f} s, {frames} frames at {fps:g} fps, {row["size"]}; episode JSON '
          f'{row["json_mb"]:.2f} MB, proxy {proxy_mb:.1f} MB):')
    print(f'  GET /api/episodes             {list_s * 1e3:10.1f} ms')
    print(f'  GET episode JSON uncached     {json_cold_s * 1e3:10.1f} ms   / episode duration '
          f'{json_cold_s / length:.4f}')
    print(f'  GET episode JSON cached       {json_warm_s * 1e3:10.1f} ms   (median of 5)')
    print(f'  first frame uncached          {cold["load_ms"]:10.1f} ms   / episode duration '
          f'{cold["load_ms"] / 1e3 / length:.4f}   (proxy built on demand)')
    print(f'  first frame cached            {warm["load_ms"]:10.1f} ms   / frame period '
          f'{warm["load_ms"] / period_ms:.2f}')
    print(f'  open -> first frame uncached  {open_cold:10.1f} ms   (JSON + video, as the page '
          f'does them one after the other)')
    print(f'  open -> first frame cached    {open_warm:10.1f} ms')
    print(f'  {f"seek p50 ({seeks} seeks)":30}{warm["seek_p50_ms"]:10.2f} ms   / frame period '
          f'{warm["seek_p50_ms"] / period_ms:.3f}')
    print(f'  seek p99                      {warm["seek_p99_ms"]:10.2f} ms   / frame period '
          f'{warm["seek_p99_ms"] / period_ms:.3f}')
    print(f'  seeks presenting another frame than k: {warm["wrong_frames"]} '
          f'(none presented to check: {warm["unseen_frames"]})')
    print(f'  server RSS idle after start   {idle:10.1f} MB')
    print(f'  after the episode JSON        {after_json:10.1f} MB   (+{after_json - idle:.1f}; '
          f'peak {peak_json:.1f})   growth / episode minute '
          f'{(after_json - idle) / minutes:.1f} MB')
    print(f'  after the proxy build         {after_proxy:10.1f} MB   (+{after_proxy - idle:.1f}; '
          f'peak {peak_proxy:.1f})   growth / episode minute '
          f'{(after_proxy - idle) / minutes:.1f} MB')
    print(f'  peak over all, at the end     {row["peak"]:10.1f} MB   (+{row["peak"] - idle:.1f}; '
          f'end {end:.1f})   peak growth / episode minute '
          f'{(row["peak"] - idle) / minutes:.1f} MB', flush=True)
    return row


TABLE = (
    ('episode duration (s)', lambda r: f'{r["duration_s"]:.1f}'),
    ('camera frames', lambda r: f'{r["frames"]}'),
    ('episode JSON (MB)', lambda r: f'{r["json_mb"]:.2f}'),
    ('GET episode uncached (ms)', lambda r: f'{r["json_cold_ms"]:.0f}'),
    ('GET episode cached (ms)', lambda r: f'{r["json_warm_ms"]:.1f}'),
    ('first frame uncached (ms)', lambda r: f'{r["ff_cold_ms"]:.0f}'),
    ('  / episode duration', lambda r: f'{r["ff_cold_ms"] / 1e3 / r["duration_s"]:.4f}'),
    ('first frame cached (ms)', lambda r: f'{r["ff_warm_ms"]:.1f}'),
    ('open->frame uncached (ms)', lambda r: f'{r["open_cold_ms"]:.0f}'),
    ('open->frame cached (ms)', lambda r: f'{r["open_warm_ms"]:.1f}'),
    ('seek p50 (ms)', lambda r: f'{r["seek_p50_ms"]:.2f}'),
    ('seek p99 (ms)', lambda r: f'{r["seek_p99_ms"]:.2f}'),
    ('  p99 / frame period', lambda r: f'{r["seek_p99_ms"] * r["fps"] / 1e3:.3f}'),
    ('wrong / unseen frames', lambda r: f'{r["wrong"]}/{r["unseen"]} of {r["seeks"]}'),
    ('RSS idle (MB)', lambda r: f'{r["rss_idle"]:.0f}'),
    ('RSS after JSON (MB)', lambda r: f'{r["rss_json"]:.0f}'),
    ('RSS after proxy (MB)', lambda r: f'{r["rss_proxy"]:.0f}'),
    ('RSS peak (MB)', lambda r: f'{r["peak"]:.0f}'),
    ('after JSON growth/min (MB)',
     lambda r: f'{(r["rss_json"] - r["rss_idle"]) * 60 / r["duration_s"]:.1f}'),
    ('peak growth/min (MB)',
     lambda r: f'{(r["peak"] - r["rss_idle"]) * 60 / r["duration_s"]:.1f}'),
)


def print_table(rows: list[dict[str, Any]]) -> None:
    """One column per measured episode, one line per figure."""
    rows = [r for r in rows if 'error' not in r]
    if not rows:
        return
    width = max(12, *(len(r['label']) + 2 for r in rows))
    print()
    print(f'{"":28}' + ''.join(f'{r["label"]:>{width}}' for r in rows))
    for name, cell in TABLE:
        cells = []
        for r in rows:
            try:
                cells.append(cell(r))
            except (KeyError, ZeroDivisionError):
                cells.append('-')
        print(f'{name:28}' + ''.join(f'{c:>{width}}' for c in cells))


def load() -> str:
    """The load averages (1, 5, 15 min) and the core count."""
    one, five, fifteen = os.getloadavg()
    return f'load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores'


def main() -> None:
    """Record, build, serve and measure; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--episodes', type=int, default=1, help='recorded episodes')
    parser.add_argument('--seeks', type=int, default=100, help='random seeks per video')
    parser.add_argument('--long-s', type=float, default=60.0,
                        help='seconds of the synthetic 640x480 JPEG episode (0: none)')
    parser.add_argument('--minutes', type=float, default=10.0,
                        help='minutes of the long episode of the reduced default suite')
    parser.add_argument('--width', type=int, default=320, help='of its camera')
    parser.add_argument('--height', type=int, default=240, help='of its camera')
    parser.add_argument('--skip-long', action='store_true',
                        help='only the short part (recorded and synthetic JPEG episodes)')
    args = parser.parse_args()
    print(f'start: {load()}', flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix='bench_review_') as tmp:
        root = Path(tmp)
        recorded_s, (session, _) = timed(lambda: record(
            root, 'recorded', REPO / 'config' / 'humanoid.yaml', episodes=args.episodes))
        print(f'recorded {args.episodes} episode(s) of the simulated humanoid in '
              f'{recorded_s:.1f} s')
        served: list[tuple[str, Path, str, str]] = []
        for folder in sorted(session.glob('episode_*')):
            for stream in camera_streams(folder):
                build_figures(folder.name, folder, stream.name, root / 'cache_build')
                served.append((f'rec_{folder.name[-4:]}', session, folder.name, stream.name))
        if args.long_s > 0:
            written_s, jpeg_episode = timed(lambda: synthetic_episode(root, args.long_s))
            print(f'synthetic JPEG episode of {args.long_s:g} s written in {written_s:.1f} s')
            build_figures('jpeg', jpeg_episode, 'head_rgb', root / 'cache_build')
            served.append((f'jpeg_{args.long_s:g}s', jpeg_episode.parent, jpeg_episode.name,
                           'head_rgb'))
        for label, served_session, episode, camera in served:
            rows.append(server_figures(label, served_session, episode, camera, args.seeks,
                                       root))
        if not args.skip_long and args.minutes > 0:
            free = shutil.disk_usage(root).free
            width, height = fit_resolution(args.minutes, args.width, args.height, free)
            if (width, height) != (args.width, args.height):
                print(f'{free / 1e9:.1f} GB free in {root.parent}: the camera is scaled '
                      f'down to {width}x{height}')
            suite_file = long_suite(root / 'long_suite.yaml', width, height)
            written_s, long_session = timed(lambda: write_episode(
                root / f'long_{args.minutes:g}min', args.minutes, suite_file))
            size = sum(f.stat().st_size for f in long_session.rglob('*.mcap')) / 1e9
            print(f'long episode: {args.minutes:g} min of {len(load_suite(suite_file).streams)} '
                  f'streams ({LONG_CAMERA} {width}x{height} at 30 Hz), {size:.2f} GB bag, '
                  f'written in {written_s:.0f} s; {load()}', flush=True)
            rows.append(server_figures(f'long_{args.minutes:g}min', long_session,
                                       'episode_0001', LONG_CAMERA, args.seeks, root))
    print_table(rows)
    print(f'end: {load()}')


if __name__ == '__main__':
    main()
