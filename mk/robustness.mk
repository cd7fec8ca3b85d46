# Robustness: the tools that try to break the library (fuzz/README.md).
#   make fuzz FUZZ_SECONDS=600   libFuzzer over the C ABI (ASan), growing build/robustness/fuzz/work
#   make test-fuzz               replays fuzz/corpus and fuzz/regressions, then fuzzes 30 s (in make test)
#   make test-edge               bad inputs, numerical edges and thread determinism from C (in make test)
#   make test-valgrind           memcheck over the C example and C test programs (in make test)
#   make valgrind-all            the same with test_edge's determinism problems too (slow)
#   make test-hidden-toolchain   the C example and the Python tests with /opt/swift hidden (in make test, as root)
#   make sanitize                swift test under ASan (release) and ConcurrencyTests under TSan (not in make test)
# Recipes only: this fragment is read after core.mk and c.mk, whose variables and rules it uses.

ROBUST_DIR    = $(BUILD)/robustness
FUZZ_DIR      = $(ROBUST_DIR)/fuzz
FUZZ_BIN      = $(FUZZ_DIR)/fuzz_cabi
FUZZ_SECONDS ?= 600
FUZZ_TEST_SECONDS ?= 30
# make test's fresh run is a fixed number of executions from a fixed seed (about 30 s here), so it
# explores the same inputs on every machine: a time limit alone made the result depend on speed.
# FUZZ_TEST_SECONDS only caps a much slower machine, which then runs a prefix of the same sequence.
FUZZ_TEST_RUNS ?= 120000
# A fixed seed, so that make test explores the same inputs on every machine.
FUZZ_SEED    ?= 1
# Swift's backtracer would wait on a crashing fuzz input; libFuzzer reports crashes itself.
FUZZ_ENV      = SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
FUZZ_FLAGS    = -O -parse-as-library -sanitize=fuzzer,address
SWIFTC       ?= swiftc
VALGRIND_RUN  = valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
                --show-leak-kinds=definite --track-origins=yes -q
HIDE_SWIFT   ?= /opt/swift

.PHONY: fuzz fuzz-build test-fuzz test-edge test-valgrind valgrind-all test-hidden-toolchain sanitize robustness-deps
TEST_TARGETS += test-edge test-valgrind test-hidden-toolchain test-fuzz

# The core and the exports compiled with coverage and ASan as two modules; the target itself
# sees only the C header (fuzz/CImplicitEM), exactly as a C caller does.
$(FUZZ_DIR)/ImplicitEM.o: $(wildcard Sources/ImplicitEM/*.swift)
	@mkdir -p $(@D)
	@echo "swiftc: the core with ASan and fuzzer coverage"
	@$(SWIFTC) $(FUZZ_FLAGS) -wmo -module-name ImplicitEM -emit-module \
	    -emit-module-path $(FUZZ_DIR)/ImplicitEM.swiftmodule -c $^ -o $@

$(FUZZ_DIR)/ImplicitEMExports.o: $(wildcard Sources/ImplicitEMExports/*.swift) $(FUZZ_DIR)/ImplicitEM.o
	@$(SWIFTC) $(FUZZ_FLAGS) -wmo -module-name ImplicitEMExports -I $(FUZZ_DIR) \
	    -c $(filter %.swift,$^) -o $@

$(FUZZ_BIN): fuzz/FuzzCABI.swift fuzz/CImplicitEM/module.modulemap include/implicitem.h \
             $(FUZZ_DIR)/ImplicitEM.o $(FUZZ_DIR)/ImplicitEMExports.o
	@$(SWIFTC) $(FUZZ_FLAGS) -I fuzz/CImplicitEM fuzz/FuzzCABI.swift \
	    $(FUZZ_DIR)/ImplicitEM.o $(FUZZ_DIR)/ImplicitEMExports.o -o $@ 2>&1 \
	    | { grep -v "Cannot export local symbol" || true; }
	@test -x $@ && echo "built $@"

fuzz-build: $(FUZZ_BIN)

# A long run that keeps what it learns in build/robustness/fuzz/work; crashes go to
# build/robustness/fuzz/artifacts (each one becomes a file in fuzz/regressions).
fuzz: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/work $(FUZZ_DIR)/artifacts
	$(FUZZ_ENV) $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_DIR)/work fuzz/corpus

# Every committed input must pass, then a fresh 30 s run from the seed corpus.
test-fuzz: $(FUZZ_BIN)
	@failed=0; for input in fuzz/corpus/* fuzz/regressions/*; do \
	    [ -f "$$input" ] || continue; \
	    $(FUZZ_ENV) $(FUZZ_BIN) "$$input" > $(FUZZ_DIR)/replay.log 2>&1 \
	    || { failed=1; echo "test-fuzz: $$input fails:"; grep -m1 -E "invariant|ERROR" $(FUZZ_DIR)/replay.log; }; \
	done; \
	[ $$failed = 0 ] || { echo "test-fuzz: committed inputs fail (fuzz/README.md)"; exit 1; }
	@echo "test-fuzz: $$(ls fuzz/corpus | wc -l) seeds and $$(ls fuzz/regressions | grep -vc README) regression inputs pass"
	@rm -rf $(FUZZ_DIR)/run && mkdir -p $(FUZZ_DIR)/run $(FUZZ_DIR)/artifacts
	@$(FUZZ_ENV) $(FUZZ_BIN) -seed=$(FUZZ_SEED) -runs=$(FUZZ_TEST_RUNS) -max_total_time=$$(( $(FUZZ_TEST_SECONDS) * 4 )) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_DIR)/run fuzz/corpus > $(FUZZ_DIR)/run.log 2>&1 \
	    || { grep -E "invariant|ERROR|Test unit written" $(FUZZ_DIR)/run.log; \
	         echo "test-fuzz: a crash (copy the input into fuzz/regressions and fix it)"; exit 1; }
	@echo "test-fuzz: seed $(FUZZ_SEED), $$(sed -n 's/stat::number_of_executed_units: *//p' $(FUZZ_DIR)/run.log) executions, no invariant broken"

# C-level edge cases and determinism (bindings/c/test_edge.c, built by c.mk's rule).
test-edge: $(BUILD)/c/test_edge
	@$(BUILD)/c/test_edge

robustness-deps:
	@command -v valgrind >/dev/null 2>&1 || { echo "robustness: installing valgrind"; \
	    $(C_SUDO) apt-get update -qq && $(C_SUDO) apt-get install -y -qq valgrind >/dev/null; }

# In make test: the example, the C test program and test_edge (without its large determinism
# problems, run natively by test-edge). `make valgrind-all` runs test_edge whole.
VALGRIND_PROGRAMS = example test_implicitem "test_edge --memcheck"

define run_valgrind
	@mkdir -p $(ROBUST_DIR); for program in $(1); do \
	    log=$(ROBUST_DIR)/valgrind-$$(echo $$program | cut -d' ' -f1).log; \
	    $(VALGRIND_RUN) $(BUILD)/c/$$program > $$log 2>&1 \
	    || { cat $$log; echo "valgrind: $$program has memory errors or leaks"; exit 1; }; \
	    echo "valgrind: $$program: 0 errors, 0 bytes definitely lost"; \
	done
endef

test-valgrind: $(BUILD)/c/example $(BUILD)/c/test_implicitem $(BUILD)/c/test_edge | robustness-deps
	$(call run_valgrind,$(VALGRIND_PROGRAMS))

valgrind-all: $(BUILD)/c/example $(BUILD)/c/test_edge $(BUILD)/c/test_implicitem | robustness-deps
	$(call run_valgrind,$(VALGRIND_PROGRAMS) test_edge)

# A mount namespace with an empty tmpfs over the toolchain: nothing of Swift is left to load.
# Needs root (or user namespaces); skipped with a message otherwise.
test-hidden-toolchain: $(BUILD)/c/example lib
	@mkdir -p $(ROBUST_DIR); if [ "$$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1; then \
	    echo "test-hidden-toolchain: skipped (needs root and unshare)"; exit 0; fi; \
	unshare -m sh -c 'mount -t tmpfs none $(HIDE_SWIFT) && \
	    if [ -n "$$(ls -A $(HIDE_SWIFT))" ]; then echo "$(HIDE_SWIFT) is still visible"; exit 1; fi && \
	    $(BUILD)/c/example > /dev/null && echo "test-hidden-toolchain: the C example runs without $(HIDE_SWIFT)" && \
	    $(PYTHON) -m pytest -q -p no:cacheprovider bindings/python/tests > $(ROBUST_DIR)/hidden-python.log 2>&1 \
	    || { tail -20 $(ROBUST_DIR)/hidden-python.log; exit 1; }' \
	&& echo "test-hidden-toolchain: the Python tests pass without $(HIDE_SWIFT) ($$(tail -1 $(ROBUST_DIR)/hidden-python.log))"

# Each sanitizer in its own scratch path; the test runtime leaks by itself, so no leak check.
sanitize:
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test -c release --sanitize=address --scratch-path .build-asan
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter ConcurrencyTests
