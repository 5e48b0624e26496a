"""Quality metrics of one demonstration and the gates that flag or reject it, numpy only.

Metrics are computed on the aligned timeline (joint positions at the dataset's fps):

- ``duration_s``;
- ``idle_fraction``: share of frames whose joint speed (norm of the velocity over all
  joints, rad/s) is below ``idle_speed``;
- ``path_length_rad``: joint-space path length, the sum of |delta q| over frames;
- ``log_dimensionless_jerk``: smoothness of the joint-speed profile over the moving part
  of the episode, -ln(T^3 / v_peak^2 * integral of jerk^2); closer to zero is smoother;
- ``hesitations``: pauses (speed below ``idle_speed`` for at least ``pause_s``) between
  the first and the last motion;
- ``sync_missing_fraction`` and per-stream residual p50/p99, ``dropped`` and
  ``missing_by_stamps`` from the recording, ``contacts`` from the labels.

Gates (``QualityGates``) turn metrics into flags (kept, marked) or rejections (left out),
each with a reason naming the metric and its value, what it means, and the gate's key in
dataset.yaml with its limit (``... (quality.max_missing_fraction = 0.05)``).
``calibration_flags`` does the same for the figures of the calibration checks
(``humanoid_data.calibration.checks``; docs/calibration.md): they only ever flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from humanoid_data.errors import ConfigError


@dataclass(frozen=True)
class QualityGates:
    """Limits of ``config/dataset.yaml``'s ``quality`` section (0 or None disables one)."""

    idle_speed: float = 0.05
    pause_s: float = 0.5
    min_duration_s: float = 1.0
    max_duration_s: float = 600.0
    max_idle_fraction: float = 0.8
    max_missing_fraction: float = 0.05       # reject above this (frames missing a required stream)
    flag_missing_fraction: float = 0.0       # flag above this
    max_dropped: int = 0                     # flag above this
    max_hesitations: int = 3                 # flag above this
    min_log_dimensionless_jerk: float = -40.0  # flag below this
    # Calibration checks (humanoid_data.calibration.checks); flag beyond these.
    max_lidar_depth_residual_m: float = 0.025   # p90 |depth - LiDAR z| (m)
    min_lidar_in_image_fraction: float = 0.05   # LiDAR points in front landing in the image
    max_lidar_edge_px: float = 6.0              # LiDAR depth edges to image edges, median
    max_calibration_angle_deg: float = 0.35     # ICP correction LiDAR -> depth (degrees)
    max_calibration_shift_mm: float = 0.0       # ICP correction LiDAR -> depth (mm; off)
    max_hand_eye_px: float = 10.0               # target seen vs projected, median (px)

    def __post_init__(self) -> None:
        """Check ranges."""
        if self.idle_speed < 0 or self.pause_s < 0:
            raise ConfigError('quality.idle_speed and quality.pause_s must be >= 0')
        if not 0 <= self.max_missing_fraction <= 1:
            raise ConfigError('quality.max_missing_fraction must be within [0, 1]')
        if not 0 <= self.min_lidar_in_image_fraction <= 1:
            raise ConfigError('quality.min_lidar_in_image_fraction must be within [0, 1]')
        for name in ('max_lidar_depth_residual_m', 'max_lidar_edge_px',
                     'max_calibration_angle_deg', 'max_calibration_shift_mm',
                     'max_hand_eye_px'):
            if getattr(self, name) < 0:
                raise ConfigError(f'quality.{name} must be >= 0 (0 disables it)')


@dataclass
class QualityReport:
    """Metrics, flags and rejection reasons of one episode."""

    metrics: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``rejected``, ``flagged`` or ``ok``."""
        return 'rejected' if self.rejected else ('flagged' if self.flags else 'ok')


def joint_speed(t_s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Norm of the joint velocity (rad/s) at each frame, by central differences."""
    if len(t_s) < 2:
        return np.zeros(len(t_s))
    velocity = np.gradient(np.nan_to_num(q), t_s, axis=0)
    speed: np.ndarray = np.linalg.norm(velocity, axis=1)
    return speed


def log_dimensionless_jerk(t_s: np.ndarray, speed: np.ndarray) -> float:
    """LDLJ of a speed profile: -ln(T^3 / v_peak^2 * integral of (d^2 v / dt^2)^2 dt)."""
    if len(t_s) < 5:
        return float('nan')
    peak = float(np.max(speed))
    duration = float(t_s[-1] - t_s[0])
    if peak <= 0 or duration <= 0:
        return float('nan')
    jerk = np.gradient(np.gradient(speed, t_s), t_s)
    # numpy 2 calls it trapezoid; 1.x only has trapz
    integrate = getattr(np, 'trapezoid', None) or getattr(np, 'trapz')
    integral = float(integrate(jerk ** 2, t_s))
    if integral <= 0:
        return 0.0
    return -float(np.log(duration ** 3 / peak ** 2 * integral))


def _pauses(t_s: np.ndarray, idle: np.ndarray, pause_s: float) -> int:
    moving = np.flatnonzero(~idle)
    if len(moving) < 2:
        return 0
    inner = idle[moving[0]:moving[-1] + 1]
    times = t_s[moving[0]:moving[-1] + 1]
    count, start = 0, None
    for i, still in enumerate(inner):
        if still and start is None:
            start = times[i]
        elif not still and start is not None:
            count += int(times[i] - start >= pause_s)
            start = None
    return int(count)


def assess(t_s: np.ndarray, q: np.ndarray, gates: QualityGates, *,
           missing_fraction: float = 0.0, residuals_ms: Mapping[str, np.ndarray] | None = None,
           dropped: int = 0, missing_by_stamps: int = 0, contacts: int = 0) -> QualityReport:
    """Compute the metrics of one episode and apply the gates.

    Args:
        t_s: Frame times (s) from the episode start.
        q: Joint positions per frame (frames x joints), NaN where missing.
        gates: Limits.
        missing_fraction: Share of frames missing a required stream.
        residuals_ms: Per stream, |instant - stamp used| of its valid frames (ms).
        dropped: Messages the recorder dropped in the episode.
        missing_by_stamps: Messages its stamps say never arrived.
        contacts: Contact onsets in the labels.

    """
    report = QualityReport()
    m = report.metrics
    duration = float(t_s[-1] - t_s[0]) if len(t_s) else 0.0
    speed = joint_speed(t_s, q)
    idle = speed < gates.idle_speed
    moving = np.flatnonzero(~idle)
    m['duration_s'] = round(duration, 3)
    m['frames'] = int(len(t_s))
    m['idle_fraction'] = round(float(np.mean(idle)) if len(idle) else 1.0, 4)
    m['path_length_rad'] = round(float(np.nansum(np.abs(np.diff(q, axis=0)))), 4) \
        if len(q) > 1 else 0.0
    if len(moving) >= 5:
        span = slice(moving[0], moving[-1] + 1)
        m['log_dimensionless_jerk'] = round(log_dimensionless_jerk(t_s[span], speed[span]), 3)
    else:
        m['log_dimensionless_jerk'] = None
    m['hesitations'] = _pauses(t_s, idle, gates.pause_s)
    m['sync_missing_fraction'] = round(float(missing_fraction), 4)
    m['sync_residual_ms'] = {
        name: {'p50': round(float(np.percentile(np.abs(r), 50)), 3),
               'p99': round(float(np.percentile(np.abs(r), 99)), 3)}
        for name, r in (residuals_ms or {}).items() if len(r)}
    m['dropped'] = int(dropped)
    m['missing_by_stamps'] = int(missing_by_stamps)
    m['contacts'] = int(contacts)

    if duration < gates.min_duration_s:
        report.rejected.append(f'duration_s {duration:.2f}: shorter than the minimum '
                               f'(quality.min_duration_s = {gates.min_duration_s:g})')
    if gates.max_duration_s and duration > gates.max_duration_s:
        report.rejected.append(f'duration_s {duration:.1f}: longer than the maximum '
                               f'(quality.max_duration_s = {gates.max_duration_s:g})')
    missing = (f'sync_missing_fraction {missing_fraction:.3f}: {missing_fraction:.1%} of '
               'frames miss a required stream')
    if missing_fraction > gates.max_missing_fraction:
        report.rejected.append(f'{missing} (quality.max_missing_fraction = '
                               f'{gates.max_missing_fraction:g})')
    elif missing_fraction > gates.flag_missing_fraction:
        report.flags.append(f'{missing} (quality.flag_missing_fraction = '
                            f'{gates.flag_missing_fraction:g})')
    if m['idle_fraction'] > gates.max_idle_fraction:
        report.flags.append(f'idle_fraction {m["idle_fraction"]:.2f}: the joints are still in '
                            f'{m["idle_fraction"]:.0%} of frames (quality.max_idle_fraction = '
                            f'{gates.max_idle_fraction:g})')
    if dropped + missing_by_stamps > gates.max_dropped:
        report.flags.append(f'dropped {dropped} + missing_by_stamps {missing_by_stamps}: '
                            'messages lost in recording (quality.max_dropped = '
                            f'{gates.max_dropped})')
    if m['hesitations'] > gates.max_hesitations:
        report.flags.append(f'hesitations {m["hesitations"]}: pauses of {gates.pause_s:g} s '
                            f'or more while moving (quality.max_hesitations = '
                            f'{gates.max_hesitations})')
    ldlj = m['log_dimensionless_jerk']
    if ldlj is not None and ldlj < gates.min_log_dimensionless_jerk:
        report.flags.append(f'log_dimensionless_jerk {ldlj:.1f}: jerkier than allowed '
                            f'(quality.min_log_dimensionless_jerk = '
                            f'{gates.min_log_dimensionless_jerk:g})')
    return report


#: Calibration figures and their gates: (metric, gate, above (True) or below the limit,
#: what the figure is, unit). Metrics named ``<metric>.<camera>`` use the gate too.
CALIBRATION_GATES = (
    ('lidar_depth_residual_p90_m', 'max_lidar_depth_residual_m', True,
     'LiDAR-to-depth p90 residual', 'm'),
    ('lidar_depth_in_image_fraction', 'min_lidar_in_image_fraction', False,
     'share of LiDAR points landing in the depth image', ''),
    ('lidar_rgb_in_image_fraction', 'min_lidar_in_image_fraction', False,
     'share of LiDAR points landing in the head RGB image', ''),
    ('lidar_depth_edge_px', 'max_lidar_edge_px', True,
     'LiDAR depth edges to depth-image edges, median', 'px'),
    ('lidar_rgb_edge_px', 'max_lidar_edge_px', True,
     'LiDAR depth edges to RGB-image edges, median', 'px'),
    ('lidar_depth_icp_deg', 'max_calibration_angle_deg', True,
     'LiDAR-to-depth ICP correction angle', 'deg'),
    ('lidar_depth_icp_mm', 'max_calibration_shift_mm', True,
     'LiDAR-to-depth ICP correction shift', 'mm'),
    ('hand_eye_px', 'max_hand_eye_px', True,
     'hand-eye: target seen vs projected through /tf, median', 'px'),
)


def calibration_flags(metrics: Mapping[str, float | int | None],
                      gates: QualityGates) -> list[str]:
    """Flags of calibration figures beyond their gates (None figures and 0 gates pass).

    A flag names the check, the figure, its limit and the gate's key in dataset.yaml:
    ``calibration: LiDAR-to-depth p90 residual 0.043 m above the maximum
    (quality.max_lidar_depth_residual_m = 0.02)``.
    """
    flags = []
    for metric, gate, above, what, unit in CALIBRATION_GATES:
        limit = float(getattr(gates, gate))
        if above and not limit:
            continue
        names = [k for k in metrics if k == metric or k.startswith(f'{metric}.')]
        for name in sorted(names):
            value = metrics[name]
            if value is None:
                continue
            if (value > limit) if above else (value < limit):
                camera = f' of {name.split(".", 1)[1]}' if '.' in name else ''
                side = 'above the maximum' if above else 'below the minimum'
                figure = f'{float(value):.3g}{" " + unit if unit else ""}'
                flags.append(f'calibration: {what}{camera} {figure} {side} '
                             f'(quality.{gate} = {limit:g})')
    return flags
