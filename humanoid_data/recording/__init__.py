"""ROS-free recording engine: bounded queue, pre-roll, episode state, session layout."""
