"""Offline conversion of episode bags into datasets (LeRobot v3, HDF5); no rclpy needed."""
