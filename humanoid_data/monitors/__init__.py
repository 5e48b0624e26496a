"""ROS-free cores of the live companions (contact and sync monitors); nodes wrap them."""
