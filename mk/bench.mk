# Benchmark against NumPy, JAX, PyTorch and scikit-learn (bench/README.md).
# `make bench` is not part of `make test`: it installs its peers into a virtual
# environment under build/ once, then reuses it. `make bench-quick` uses small sizes.

BENCH_DIR    := $(BUILD)/bench
BENCH_VENV   := $(BUILD)/bench-venv
BENCH_PY     := $(BENCH_VENV)/bin/python
BENCH_CC     ?= cc
BENCH_CFLAGS := -O3 -march=native -std=gnu11 -Wall
# Old OpenBLAS workarounds slow a current NumPy: unset them for the benchmark process only.
BENCH_ENV    := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=$(CURDIR)/bindings/python \
                IMPLICITEM_LIBRARY=$(CURDIR)/$(BUILD)/lib/libimplicitem.so
BENCH_TORCH_TIMEOUT ?= 2400

.PHONY: bench bench-quick bench-venv bench-selftest

# The benchmark also times a build for this machine's CPU (NATIVE=1's code generation, AVX-512
# where the CPU has it) beside the default one: its own scratch folder, its own output folder.
# (mk/core.mk, read after this file, defines SWIFT_INPUTS: expanded a second time.)
BENCH_NATIVE := $(BUILD)/lib-native/libimplicitem.so
.SECONDEXPANSION:
$(BENCH_NATIVE): $$(SWIFT_INPUTS)
	@echo "swift build: libimplicitem for this CPU (benchmark only)"
	@$(SWIFT) build -q -c release --product implicitem --scratch-path .build-native -Xswiftc -static-stdlib \
	  -Xswiftc -target-cpu -Xswiftc native -Xlinker --version-script=$(CURDIR)/exports.map \
	  -Xlinker -soname=$(LIB_SONAME) -Xlinker -z -Xlinker nodelete
	@mkdir -p $(@D)
	cp .build-native/release/libimplicitem.so $@

$(BENCH_VENV)/.base-installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet numpy scipy scikit-learn "jax[cpu]" threadpoolctl
	touch $@

# PyPI's torch wheel pulls several GB of CUDA libraries; when it cannot be installed
# the benchmark runs without it and says so.
$(BENCH_VENV)/.torch-tried: $(BENCH_VENV)/.base-installed
	-timeout $(BENCH_TORCH_TIMEOUT) $(BENCH_PY) -m pip install --quiet torch \
	  || echo "torch could not be installed (pip failed or took over $(BENCH_TORCH_TIMEOUT) s)" > $(BENCH_VENV)/.torch-failed
	touch $@

bench-venv: $(BENCH_VENV)/.base-installed $(BENCH_VENV)/.torch-tried

$(BENCH_DIR)/floor: bench/floor.c | $(BENCH_DIR)/.dir
	$(BENCH_CC) $(BENCH_CFLAGS) -ffast-math -fopenmp-simd -o $@ $< -lm -lpthread

$(BENCH_DIR)/w5: bench/w5.c include/implicitem.h | lib $(BENCH_DIR)/.dir
	$(BENCH_CC) $(BENCH_CFLAGS) -Iinclude -o $@ $< -L$(BUILD)/lib -limplicitem -Wl,-rpath,$(CURDIR)/$(BUILD)/lib

$(BENCH_DIR)/.dir:
	mkdir -p $(BENCH_DIR)
	touch $@

bench: lib $(BENCH_NATIVE) bench-venv $(BENCH_DIR)/floor $(BENCH_DIR)/w5
	$(BENCH_ENV) $(BENCH_PY) bench/run.py --build $(BUILD) --json $(BENCH_DIR)/results.json

bench-quick: lib $(BENCH_NATIVE) bench-venv $(BENCH_DIR)/floor $(BENCH_DIR)/w5
	$(BENCH_ENV) $(BENCH_PY) bench/run.py --quick --build $(BUILD) --json $(BENCH_DIR)/results-quick.json

# The peers checked against KERNELS.md written out plainly and finite differences (no library needed).
bench-selftest: bench-venv
	$(BENCH_ENV) $(BENCH_PY) bench/selftest.py
