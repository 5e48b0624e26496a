"""Calibration of recorded episodes: camera intrinsics and the robot description."""
