"""The simulated humanoid, ROS-free: task script, sensors, scene rendering, faults."""
