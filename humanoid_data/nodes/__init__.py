"""Thin rclpy nodes: they turn messages into plain values and call ROS-free code."""
