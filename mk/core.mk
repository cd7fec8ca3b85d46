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

# The release library is compiled with swiftc directly (SwiftPM cannot rename a module, which two
# copies of the library in one file need), with the flags of SwiftPM's release build; SwiftPM
# stays for `swift test` and for Swift packages. Objects go under LIB_OBJ.
LIB_OBJ      := .build-lib
SWIFTC       ?= swiftc
SWIFT_INPUTS := $(sort $(shell find Sources -type f -name '*.swift' 2>/dev/null))
# Code generation. On x86-64 the library holds two copies of the code, and picks one when it is
# loaded (dispatch/select.c): `avx2` targets Haswell (AVX2 + FMA, every x86-64 server CPU since
# 2013) with 256-bit vectors; `avx512` targets x86-64-v4 (AVX-512 F/CD/BW/DQ/VL, any AVX-512
# CPU) with 512-bit vectors in the matrix products (IE_WIDE_VECTORS). Other machines get one copy
# for the generic target. NATIVE=1 builds one copy for the building machine (not for distribution).
ARCH         := $(shell uname -m)
ifeq ($(NATIVE),1)
LIB_COPIES   := native
else ifeq ($(ARCH),x86_64)
LIB_COPIES   := avx2 avx512
else
LIB_COPIES   := generic
endif
COPY_FLAGS_avx2    := -target-cpu haswell
# (swiftc's -target-cpu does not know the x86-64-v4 level; the C importer's -march does, and the
# Swift code generation takes its CPU from there.)
COPY_FLAGS_avx512  := -Xcc -march=x86-64-v4 -DIE_WIDE_VECTORS
COPY_FLAGS_native  := -target-cpu native $(if $(shell grep -qsw avx512f /proc/cpuinfo && echo y),-DIE_WIDE_VECTORS)
COPY_FLAGS_generic :=
# The second copy's modules are ImplicitEMWide and ImplicitEMExportsWide.
COPY_MODULE_avx512 := Wide
# Two copies: each copy's global symbols get its name as a prefix (avx2.ie_forward_f64, ...),
# and the dispatcher defines the public ie_* functions.
DISPATCHED   := $(filter avx512,$(LIB_COPIES))
copy_args     = "$(COPY_MODULE_$(1))" "$(if $(DISPATCHED),$(1))" -- $(COPY_FLAGS_$(1))
COPY_OBJECTS := $(foreach copy,$(LIB_COPIES),$(LIB_OBJ)/$(copy)/core.o $(LIB_OBJ)/$(copy)/exports.o)
DISPATCH_OBJECTS := $(if $(DISPATCHED),$(LIB_OBJ)/select.o $(LIB_OBJ)/trampolines.o)
# Linked but not stripped (for profilers); build/lib holds the stripped copy.
LIB_LINKED   := $(LIB_OBJ)/libimplicitem.so
# SwiftPM's link flags for a release product (--gc-sections) and the Swift runtime linked in.
# -z nodelete: dlclose must not unmap the code of the Swift runtime and of the per-thread
# error buffers' destructor while threads that used them are still alive.
LINK_FLAGS   := -emit-library -static-stdlib -Xlinker --gc-sections \
                -Xlinker --version-script=$(CURDIR)/exports.map -Xlinker -soname=$(LIB_SONAME) \
                -Xlinker -z -Xlinker nodelete

.PHONY: lib install test-swift test-symbols test-header FORCE
TEST_TARGETS += test-swift test-symbols test-c test-header

lib: $(LIB_REAL) $(LIB_LINKS) $(LIB_HEADER)

# Each copy's record of its inputs and flags, rewritten only when they change, so that a deleted
# source or a new flag also recompiles; and the list of copies, which the link depends on.
$(LIB_OBJ)/%/inputs: FORCE
	@mkdir -p $(@D)
	@echo '$(SWIFT_INPUTS) $(call copy_args,$*)' | cmp -s - $@ || echo '$(SWIFT_INPUTS) $(call copy_args,$*)' > $@

.SECONDARY: $(foreach copy,$(LIB_COPIES),$(LIB_OBJ)/$(copy)/inputs)

$(LIB_OBJ)/copies: FORCE
	@mkdir -p $(@D)
	@echo '$(LIB_COPIES)' | cmp -s - $@ || echo '$(LIB_COPIES)' > $@

# One rule makes both objects of a copy (exports.o last); the copies compile in parallel under -j2.
$(LIB_OBJ)/%/exports.o: $(SWIFT_INPUTS) $(LIB_OBJ)/%/inputs dispatch/compile_copy.sh
	@echo "swiftc: libimplicitem, $* copy ($(strip $(COPY_FLAGS_$*)))"
	@SWIFTC=$(SWIFTC) dispatch/compile_copy.sh $(@D) $(call copy_args,$*)

$(LIB_OBJ)/%/core.o: $(LIB_OBJ)/%/exports.o
	@test -f $@

$(LIB_OBJ)/trampolines.S: include/implicitem.h dispatch/trampolines.sh dispatch/functions.sh
	@mkdir -p $(@D)
	@dispatch/trampolines.sh include/implicitem.h $(LIB_COPIES) > $@.tmp
	@mv $@.tmp $@

$(LIB_OBJ)/trampolines.o: $(LIB_OBJ)/trampolines.S
	@$(CC) -c -o $@ $<

$(LIB_OBJ)/select.o: dispatch/select.c
	@mkdir -p $(@D)
	@$(CC) -std=c11 -O2 -fPIC -Wall -Wextra -Werror -c -o $@ $<

$(LIB_LINKED): $(COPY_OBJECTS) $(DISPATCH_OBJECTS) $(LIB_OBJ)/copies exports.map
	@$(SWIFTC) $(LINK_FLAGS) -o $@ $(COPY_OBJECTS) $(DISPATCH_OBJECTS)

# Stripping the symbol table (the dynamic symbols stay) takes the library from about 25 MB to 9.5 MB.
$(LIB_REAL): $(LIB_LINKED)
	@mkdir -p $(@D)
	@cp $< $@.tmp
	@$(STRIP) --strip-unneeded $@.tmp
	@mv $@.tmp $@
	@echo "built $@ ($$(du -k $@ | cut -f1) KiB; code for $(LIB_COPIES))"

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
# empty run), in their own scratch path so they never disturb the release build. One test
# process per core: the suite's run took about 6 minutes one test at a time, under 3 in parallel.
test-swift:
	$(SWIFT) test -q --disable-swift-testing --scratch-path .build-test --parallel

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

# The two-copy build: AVX-512 instructions only in the AVX-512 copy, and the AVX2 copy tested too
# (on a CPU with AVX-512 the other suites run the AVX-512 copy): the C programs, the C edge cases
# and the Python suite again, with IMPLICITEM_CPU=avx2 (about a minute). test_dispatch.py (in
# test-python) checks that the variable switches the copy and that both copies' results agree.
ifneq ($(DISPATCHED),)
.PHONY: test-copies test-avx2
TEST_TARGETS += test-copies test-avx2

test-copies: lib
	@$(PYTHON) dispatch/check_copies.py $(LIB_LINKED)

test-avx2: lib
	@echo "test-avx2: the C programs, the C edge cases and the Python suite with IMPLICITEM_CPU=avx2"
	@IMPLICITEM_CPU=avx2 $(MAKE) --no-print-directory test-c test-edge test-python
endif
