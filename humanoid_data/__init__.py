"""humanoid_data: record teleoperated humanoid demonstrations and turn them into datasets."""

__version__ = '0.1.0'
