# C programs (bindings/c) built the way a user builds them: against the installed header
# and library through pkg-config (a staged `make install` in build/stage, see mk/core.mk).
# `make test-c` (part of `make test`) builds and runs them all; `make example` runs the
# example. Recipes only: this fragment is read before core.mk, whose variables it uses.

C_DIR      = $(BUILD)/c
C_STAGE_PC = $(BUILD)/stage/lib/pkgconfig/implicitem.pc
C_PKG      = PKG_CONFIG_PATH=$(abspath $(BUILD)/stage/lib/pkgconfig) pkg-config
C_CFLAGS  ?= -std=c11 -O2 -Wall -Wextra -Werror
C_SUDO     = $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: test-c example c-deps

# pkg-config and libffi (for ffi_example), installed when missing.
c-deps:
	@missing=""; \
	command -v pkg-config >/dev/null 2>&1 || missing=" pkg-config"; \
	pkg-config --exists libffi 2>/dev/null || dpkg -s libffi-dev >/dev/null 2>&1 || missing="$$missing libffi-dev"; \
	if [ -n "$$missing" ]; then \
	    echo "c-deps: installing$$missing"; \
	    $(C_SUDO) apt-get update -qq && $(C_SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Linked with -limplicitem from pkg-config; an rpath to the staged libdir runs them in place.
$(BUILD)/c/%: bindings/c/%.c bindings/c/check.h $(BUILD)/stage/lib/pkgconfig/implicitem.pc | c-deps
	@mkdir -p $(@D)
	@$(CC) $(C_CFLAGS) $$($(C_PKG) --cflags implicitem) -o $@ $< \
	    $$($(C_PKG) --libs implicitem) -Wl,-rpath,$$($(C_PKG) --variable=libdir implicitem) -lm -lpthread

# The interpreter's way: no link to the library, only libffi and dlopen at run time.
$(BUILD)/c/ffi_example: bindings/c/ffi_example.c $(BUILD)/stage/lib/pkgconfig/implicitem.pc | c-deps
	@mkdir -p $(@D)
	@$(CC) $(C_CFLAGS) $$($(C_PKG) --cflags implicitem libffi) -o $@ $< $$($(C_PKG) --libs libffi) -ldl -lm

$(BUILD)/c/unload_test: bindings/c/unload_test.c $(BUILD)/stage/lib/pkgconfig/implicitem.pc | c-deps
	@mkdir -p $(@D)
	@$(CC) $(C_CFLAGS) $$($(C_PKG) --cflags implicitem) -o $@ $< -ldl -lpthread

C_PROGRAMS = $(addprefix $(BUILD)/c/,test_implicitem example callback_example ffi_example unload_test)

test-c: $(C_PROGRAMS)
	@$(C_DIR)/test_implicitem
	@$(C_DIR)/example >/dev/null && echo "example: the objective never fell, and every step was the EM M-step"
	@$(C_DIR)/callback_example
	@if readelf -d $(C_DIR)/ffi_example | grep -q 'NEEDED.*implicitem'; then \
	    echo "ffi_example links libimplicitem at link time"; exit 1; fi
	@LD_LIBRARY_PATH=$(abspath $(BUILD)/stage/lib) $(C_DIR)/ffi_example
	@LD_LIBRARY_PATH=$(abspath $(BUILD)/stage/lib) $(C_DIR)/unload_test

example: $(BUILD)/c/example
	@$(C_DIR)/example
