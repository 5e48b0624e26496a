# Two commands set everything up on a fresh machine:
#   make demo   record 3 episodes on the simulated humanoid and report what was captured
#   make test   run every test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean system-deps

# open3d needs libusb at import and libgomp; opencv-python needs libGL and glib; the
# launch file test uses xmllint when it exists; the review workbench's browser tests drive
# Debian's headless Chromium through its ChromeDriver; building tf2_msgs (no wheel has it)
# needs CMake, a C/C++ compiler and the Python headers.
SYSTEM_LIBS := libusb-1.0-0 libgl1 libglib2.0-0 libgomp1 libxml2-utils chromium chromium-driver \
	cmake g++ python3-dev

system-deps:
	@missing=""; for p in $(SYSTEM_LIBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): setup.py setup.cfg package.xml tools/build_tf2_msgs.py | system-deps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[ros,test,cluster]'
	$(PY) tools/build_tf2_msgs.py
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	ROS_LOG_DIR=$${ROS_LOG_DIR:-$(CURDIR)/demo_output/ros_logs} \
	ROS_AUTOMATIC_DISCOVERY_RANGE=$${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST} \
	$(VENV)/bin/humanoid-data demo --out demo_output --episodes $${EPISODES:-3}

test: $(STAMP)
	$(PY) -m pytest -q test

bench: $(STAMP)
	$(PY) bench/record_throughput.py --compression lz4
	$(PY) bench/record_throughput.py --scales 1 --compression none --no-floor
	$(PY) bench/record_throughput.py --scales 1 --compression zstd --no-floor
	$(PY) bench/writer_cost.py
	$(PY) bench/companions.py
	$(PY) bench/sync_latency.py
	$(PY) bench/convert_throughput.py
	$(PY) bench/encoder_quality.py
	$(PY) bench/sim_cost.py
	$(PY) bench/ray_overhead.py
	$(PY) bench/merge_throughput.py

clean:
	rm -rf $(VENV) demo_output build *.egg-info .pytest_cache
