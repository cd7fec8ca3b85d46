# The core library: `make lib` builds the self-contained release libimplicitem.so into
# build/lib (Swift runtime linked in statically, only ie_* exported, SONAME with the
# major version) and copies the header to build/include. `make install PREFIX=...`
# installs them with a pkg-config file. The version comes from include/implicitem.h.

SWIFT        ?= swift
CC           ?= cc
CXX          ?= c++
STRIP        ?= strip

LIB_VERSION  := $(shell sed -n 's/^\#define IE_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9][0-9]*\).*/\2/p' include/implicitem.h | paste -sd. -)
LIB_MAJOR    := $(firstword $(subst ., ,$(LIB_VERSION)))
LIB_SONAME   := libimplicitem.so.$(LIB_MAJOR)
LIB_DIR      := $(BUILD)/lib
LIB_REAL     := $(LIB_DIR)/libimplicitem.so.$(LIB_VERSION)
LIB_LINKS    := $(LIB_DIR)/$(LIB_SONAME) $(LIB_DIR)/libimplicitem.so
LIB_HEADER   := $(BUILD)/include/implicitem.h

# SwiftPM's own output; the scratch path .build belongs to this release build.
SWIFT_SO     := .build/release/libimplicitem.so
SWIFT_INPUTS := Package.swift exports.map mk/core.mk $(sort $(shell find Sources -type f -name '*.swift' 2>/dev/null))
# Rewritten only when the list of inputs or the target CPU changes, so a deleted source or a
# NATIVE=1 switch also rebuilds.
SWIFT_LIST   := $(BUILD)/.swift-inputs
# SwiftPM already links release products with --gc-sections; stripping the symbol table
# (the dynamic symbols stay) takes the library from about 11.7 MB to 6.8 MB.
# -z nodelete: dlclose must not unmap the code of the Swift runtime and of the per-thread
# error buffers' destructor while threads that used them are still alive.
# Code generation: on x86-64 the default targets Haswell (AVX2 + FMA, every x86-64 server CPU
# since 2013), a portable baseline for a shipped library; the SIMD kernels use 256-bit vectors.
# NATIVE=1 targets the building machine instead (AVX-512 where it has it, and then 512-bit vectors
# in the matrix products, IE_WIDE_VECTORS); not for distribution.
ARCH         := $(shell uname -m)
ifeq ($(NATIVE),1)
TARGET_CPU   := -Xswiftc -target-cpu -Xswiftc native $(if $(shell grep -qsw avx512f /proc/cpuinfo && echo y),-Xswiftc -DIE_WIDE_VECTORS)
else ifeq ($(ARCH),x86_64)
TARGET_CPU   := -Xswiftc -target-cpu -Xswiftc haswell
else
TARGET_CPU   :=
endif
SWIFT_FLAGS  := -c release --product implicitem --scratch-path .build -Xswiftc -static-stdlib $(TARGET_CPU) \
                -Xlinker --version-script=$(CURDIR)/exports.map -Xlinker -soname=$(LIB_SONAME) \
                -Xlinker -z -Xlinker nodelete

.PHONY: lib install test-swift test-symbols test-header FORCE
TEST_TARGETS += test-swift test-symbols test-c test-header

lib: $(LIB_REAL) $(LIB_LINKS) $(LIB_HEADER)

$(SWIFT_LIST): FORCE
	@mkdir -p $(@D)
	@echo '$(SWIFT_INPUTS) $(TARGET_CPU)' | cmp -s - $@ || echo '$(SWIFT_INPUTS) $(TARGET_CPU)' > $@

# Removing the old product makes SwiftPM relink even when only exports.map changed.
$(SWIFT_SO): $(SWIFT_INPUTS) $(SWIFT_LIST)
	@echo "swift build: libimplicitem (release, static Swift runtime)"
	@rm -f $@
	@$(SWIFT) build -q $(SWIFT_FLAGS)
	@touch $@

$(LIB_REAL): $(SWIFT_SO)
	@mkdir -p $(@D)
	@cp $< $@.tmp
	@$(STRIP) --strip-unneeded $@.tmp
	@mv $@.tmp $@
	@echo "built $@ ($$(du -k $@ | cut -f1) KiB)"

$(LIB_DIR)/$(LIB_SONAME): $(LIB_REAL)
	@ln -sf $(notdir $<) $@

$(LIB_DIR)/libimplicitem.so: $(LIB_DIR)/$(LIB_SONAME)
	@ln -sf $(LIB_SONAME) $@

$(LIB_HEADER): include/implicitem.h
	@mkdir -p $(@D)
	@cp $< $@

# $(call install_library,PREFIX): the library, its links, the header and implicitem.pc.
# The .pc file records the absolute prefix, so a relative PREFIX works from anywhere.
define install_library
	@install -d $(DESTDIR)$(1)/lib/pkgconfig $(DESTDIR)$(1)/include
	@install -m 755 $(LIB_REAL) $(DESTDIR)$(1)/lib/
	@ln -sf $(notdir $(LIB_REAL)) $(DESTDIR)$(1)/lib/$(LIB_SONAME)
	@ln -sf $(LIB_SONAME) $(DESTDIR)$(1)/lib/libimplicitem.so
	@install -m 644 include/implicitem.h $(DESTDIR)$(1)/include/
	@sed -e 's|@PREFIX@|$(1)|g' -e 's|@VERSION@|$(LIB_VERSION)|g' implicitem.pc.in \
	    > $(DESTDIR)$(1)/lib/pkgconfig/implicitem.pc
	@echo "installed libimplicitem $(LIB_VERSION) into $(DESTDIR)$(1)"
endef

install: lib
	$(call install_library,$(abspath $(PREFIX)))

# A staged install in build/stage, what the C programs (mk/c.mk) compile against.
STAGE    := $(BUILD)/stage
STAGE_PC := $(STAGE)/lib/pkgconfig/implicitem.pc

$(STAGE_PC): $(LIB_REAL) include/implicitem.h implicitem.pc.in
	$(call install_library,$(abspath $(STAGE)))

# Swift unit tests (XCTest; the suite has no swift-testing tests, whose runner would report an
# empty run), in their own scratch path so they never disturb the release build.
test-swift:
	$(SWIFT) test -q --disable-swift-testing --scratch-path .build-test

# The built library exports exactly the header's functions, needs no Swift runtime
# library, carries the SONAME, and reports the header's version.
test-symbols: lib
	@bindings/c/check_library.sh $(LIB_REAL) include/implicitem.h $(LIB_SONAME) $(BUILD)/c "$(CC)"

# The header alone compiles cleanly as C99, C11 and C++.
test-header: include/implicitem.h
	@mkdir -p $(BUILD)/c
	@for std in c99 c11; do \
	    $(CC) -std=$$std -Wall -Wextra -Werror -pedantic -Wstrict-prototypes -Iinclude \
	        -fsyntax-only -x c bindings/c/header_check.c || exit 1; done
	@$(CXX) -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only -x c++ bindings/c/header_check.c
	@echo "test-header: implicitem.h compiles as C99, C11 and C++ with -Wall -Wextra -Werror -pedantic"
