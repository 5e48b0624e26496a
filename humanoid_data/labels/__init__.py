"""Label sets per episode and annotator, agreement, adjudication, gold sets (ROS-free)."""
