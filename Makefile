# libimplicitem: `make` builds the self-contained release library into build/,
# `make test` builds and runs every test suite, `make demo` runs the main job.
# Each area of the project keeps its targets in mk/<area>.mk; a fragment adds
# its test targets to TEST_TARGETS, in the order they should run.

PREFIX ?= /usr/local
BUILD  := build
PYTHON ?= python3
TEST_TARGETS :=

.PHONY: all test demo clean
all: lib

include $(sort $(wildcard mk/*.mk))

test: $(TEST_TARGETS)
	@echo "make test: every suite passed ($(TEST_TARGETS))"

clean:
	rm -rf $(BUILD) .build .build-lib
