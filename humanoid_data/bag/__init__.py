"""rosbags-based bag I/O: typestore, CDR <-> numpy, episode writer, streaming reader."""
