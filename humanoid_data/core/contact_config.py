"""Contact-detection thresholds (``config/contact.yaml``): per wrist and per tactile pad.

``core.contact`` holds the detectors that use them and ``core.contact_stamps`` the rules
that stamp an onset or offset where the signal leaves or rejoins its baseline
(``band_sigma``, ``backtrack_s``, ``settle_s``); docs/config.md describes every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from humanoid_data.core.checks import check_mapping, check_number, parse_settings
from humanoid_data.core.yaml_file import read_yaml
from humanoid_data.errors import ConfigError


@dataclass(frozen=True)
class WrenchThresholds:
    """Thresholds of a wrist force-torque channel."""

    on_n: float = 0.5
    off_n: float = 0.3
    min_on_s: float = 0.01
    min_off_s: float = 0.01
    slip_drop_fraction: float = 0.75
    slip_window_s: float = 0.03
    band_sigma: float = 3.0
    backtrack_s: float = 0.1
    settle_s: float = 0.2

    def __post_init__(self) -> None:
        """Check that the thresholds make a hysteresis."""
        _check_hysteresis(self.on_n, self.off_n, 'wrench.on_n', 'wrench.off_n')
        _check_non_negative(self, ('min_on_s', 'min_off_s', 'slip_window_s'), 'wrench')
        _check_stamping(self, 'wrench')
        if not 0.0 <= self.slip_drop_fraction < 1.0:
            raise ConfigError('wrench.slip_drop_fraction must be within [0, 1) (0 disables)')


@dataclass(frozen=True)
class TactileThresholds:
    """Thresholds of a fingertip tactile pad."""

    on_kpa: float = 20.0
    off_kpa: float = 10.0
    taxel_kpa: float = 3.0
    min_taxels: int = 2
    min_on_s: float = 0.01
    min_off_s: float = 0.01
    slip_taxels: float = 0.75
    slip_window_s: float = 0.05
    band_sigma: float = 3.0
    backtrack_s: float = 0.1
    settle_s: float = 0.2

    def __post_init__(self) -> None:
        """Check that the thresholds make a hysteresis."""
        _check_hysteresis(self.on_kpa, self.off_kpa, 'tactile.on_kpa', 'tactile.off_kpa')
        _check_non_negative(self, ('taxel_kpa', 'min_on_s', 'min_off_s', 'slip_taxels',
                                   'slip_window_s'), 'tactile')
        _check_stamping(self, 'tactile')
        if self.min_taxels < 1:
            raise ConfigError('tactile.min_taxels must be >= 1')


@dataclass(frozen=True)
class ContactConfig:
    """Everything ``config/contact.yaml`` holds."""

    tare_s: float = 0.2
    wrench: WrenchThresholds = field(default_factory=WrenchThresholds)
    tactile: TactileThresholds = field(default_factory=TactileThresholds)
    source: str = '<defaults>'

    def scaled(self, factor: float) -> ContactConfig:
        """Return the thresholds multiplied by ``factor`` (durations unchanged)."""
        w, t = self.wrench, self.tactile
        return replace(
            self,
            wrench=replace(w, on_n=w.on_n * factor, off_n=w.off_n * factor),
            tactile=replace(t, on_kpa=t.on_kpa * factor, off_kpa=t.off_kpa * factor,
                            taxel_kpa=t.taxel_kpa * factor))


def _check_hysteresis(on: float, off: float, on_key: str, off_key: str) -> None:
    if not on > off >= 0:
        raise ConfigError(f'{on_key} ({on}) must be greater than {off_key} ({off}) >= 0')


def _check_non_negative(obj: object, names: Sequence[str], where: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ConfigError(f'{where}.{name} must be >= 0')


def _check_stamping(obj: WrenchThresholds | TactileThresholds, where: str) -> None:
    _check_non_negative(obj, ('backtrack_s', 'settle_s'), where)
    if not obj.band_sigma > 0:
        raise ConfigError(f'{where}.band_sigma must be > 0')


def parse_contact_config(data: object, source: str = '<memory>') -> ContactConfig:
    """Build a ``ContactConfig`` from already-parsed YAML.

    Raises:
        ConfigError: Unknown key, wrong type, a number that is NaN or infinite, or
            inconsistent thresholds, naming the file and the key.

    """
    data = check_mapping(data, {'tare_s', 'wrench', 'tactile'}, source)
    wrench = parse_settings(WrenchThresholds, data.get('wrench', {}), f'{source}: wrench')
    tactile = parse_settings(TactileThresholds, data.get('tactile', {}), f'{source}: tactile')
    tare_s = check_number(data.get('tare_s', 0.2), f'{source}: tare_s', above=0)
    return ContactConfig(tare_s, wrench, tactile, source)


def load_contact_config(path: str | Path) -> ContactConfig:
    """Read and validate ``contact.yaml``.

    Raises:
        ConfigError: The file is unreadable, too large, not YAML, or not valid.

    """
    return parse_contact_config(read_yaml(path, 'contact-detection config'), str(path))
