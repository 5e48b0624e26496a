"""The humanoid-data command line."""
