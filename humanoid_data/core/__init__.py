"""ROS-free logic (numpy, SciPy for rotations, and the standard library)."""
