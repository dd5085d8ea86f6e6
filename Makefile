# neuroq: `make demo` runs the pipeline, `make test` runs the tests.
# Both create .venv from nothing and install everything they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch pinned: an unpinned torch pulls several GB of CUDA packages on these machines.
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.neuroq-installed

.PHONY: demo test test-fast lint bench clean venv

venv: $(STAMP)

EVENT_MSGS := $(wildcard ros_nodes/interfaces/event_camera_msgs/* \
	ros_nodes/interfaces/event_camera_msgs/msg/*) ros_nodes/interfaces/build_event_msgs.sh

$(STAMP): pyproject.toml setup.py package.xml Makefile $(EVENT_MSGS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[train,ros,events,scale,box2d,video,dev]" "$(TORCH_PIN)"
	# event_camera_msgs/EventPacket has no wheel: build it from its interface definition.
	bash ros_nodes/interfaces/build_event_msgs.sh $(VENV)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neuroq demo
	$(VENV)/bin/neuroq demo --env neuroq/DVSPanTrackingPooled-v0 --epochs 12
	# the mobile robot: the shipped artifact, a few episodes over ROS 2, the success rate
	$(PY) -m neuroq.ros_nodes.demo_nav

# pytest exits 5 when it collects no tests; that is a failure of the suite here, not a pass.
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Benchmarks print their figures (not timed tests). bench_train alone takes tens of minutes.
bench: $(STAMP)
	$(PY) bench/bench_emulator.py
	$(PY) bench/bench_events.py
	$(PY) bench/bench_spiking.py
	$(PY) bench/bench_ros_loop.py
	$(PY) bench/bench_train.py

clean:
	rm -rf $(VENV) runs .pytest_cache
