"""ROS-free logic (numpy and the standard library only)."""
