# libselfckpt - checkpoint/restart from inside a Linux process.
#
#   make            build the libraries, the selfckpt program and its restorer
#   make test       build and run every test (installs what it needs)
#   make demo       install what is missing, build, and show a checkpoint and
#                   restart of the example simulation
#   make install PREFIX=/usr/local [DESTDIR=...]
#
# The restore path that runs after the launcher unmapped itself (rst/) and
# the checkpoint writer that runs after the registers are captured are
# freestanding: see check-freestanding below and docs/design.md.

CC ?= gcc
PREFIX ?= /usr/local
BUILD ?= build
V ?= 0

ifeq ($(V),0)
Q := @
else
Q :=
endif

ARCH := x86_64
SOVERSION := 0
VERSION := 0.1.0

WARN := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
	-Wshadow -Wpointer-arith -Wno-missing-field-initializers
OPT ?= -O2 -g
INC := -Iinclude -Ilibselfckpt -Ilibselfckpt/arch/$(ARCH)
CFLAGS_BASE := -std=gnu11 $(OPT) $(WARN) $(INC) -D_GNU_SOURCE -fno-strict-aliasing
# The library lives inside other programs: export only the API, bind now
# (lazy binding would write the GOT while an image is being saved).
LIB_CFLAGS := $(CFLAGS_BASE) -fPIC -fvisibility=hidden -fno-stack-protector \
	$(EXTRA_CFLAGS)
LIB_LDFLAGS := -shared -Wl,-soname,libselfckpt.so.$(SOVERSION) -Wl,-z,now \
	-Wl,-z,relro -Wl,-z,noexecstack -Wl,--no-undefined

# Code that runs where libc may not (inside the checkpoint after the capture).
NOLIBC_SRC := libselfckpt/writer.c libselfckpt/image-enc.c libselfckpt/log.c \
	libselfckpt/proc.c libselfckpt/arena.c libselfckpt/nolibc/xxh64.c \
	libselfckpt/nolibc/fmt.c libselfckpt/nolibc/errname.c
CORE_SRC := $(NOLIBC_SRC) libselfckpt/checkpoint.c libselfckpt/init.c \
	libselfckpt/res-mem.c libselfckpt/res-file.c libselfckpt/res-obj.c \
	libselfckpt/res-evl.c libselfckpt/res-tty.c libselfckpt/res-ghost.c \
	libselfckpt/res-flock.c libselfckpt/res-lenient.c libselfckpt/res-proc.c \
	libselfckpt/res-sock.c libselfckpt/res-scm.c \
	libselfckpt/res-thread.c libselfckpt/threads.c libselfckpt/fingerprint.c \
	libselfckpt/elf.c libselfckpt/res-locks.c libselfckpt/auto.c \
	libselfckpt/res-signal.c libselfckpt/res-timer.c libselfckpt/res-sysv.c \
	libselfckpt/arch/$(ARCH)/cpu.c
CORE_ASM := libselfckpt/arch/$(ARCH)/context.S
# Used by the selfckpt program (restart, info) and the tests, not exported.
TOOL_LIB_SRC := libselfckpt/image-dec.c libselfckpt/restore.c \
	libselfckpt/restore-files.c libselfckpt/restore-objs.c \
	libselfckpt/restore-evl.c libselfckpt/restore-tty.c libselfckpt/restore-ghost.c \
	libselfckpt/restore-flock.c libselfckpt/restore-ns.c \
	libselfckpt/restore-sock.c libselfckpt/restore-timers.c libselfckpt/restore-sysv.c \
	libselfckpt/arch/$(ARCH)/sigframe.c

# Only in the shared library: libc functions it interposes (interpose.c).
SO_ONLY_SRC := libselfckpt/interpose.c

CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(CORE_ASM:%.S=$(BUILD)/%.o)
SO_ONLY_OBJ := $(SO_ONLY_SRC:%.c=$(BUILD)/%.o)
NOLIBC_OBJ := $(NOLIBC_SRC:%.c=$(BUILD)/%.o)
TOOL_LIB_OBJ := $(TOOL_LIB_SRC:%.c=$(BUILD)/%.o)

# ---- sanitizers (SANITIZE=1; docs/sanitizers.md) ----
# What gets which sanitizer, and why:
#  - the selfckpt program, the unit tests and imgedit, with all the library
#    code they link (a second copy of the objects, in $(BUILD)/asan/):
#    AddressSanitizer (and LeakSanitizer) and UBSan, each report to a file
#    (tests/run-sanitized.sh). The program never checkpoints itself, so
#    there the freestanding C files are ordinary code, instrumented too;
#    `restart` runs instrumented up to the jump into the restorer, which
#    unmaps all of it, shadow included, and runs none of it again.
#  - the libraries that checkpointed programs load (.so, .a, preload):
#    UBSan in trap mode only. ASan cannot be in a process that saves its
#    own memory: its shadow (terabytes reserved at fixed addresses) and
#    its runtime's state would be part of every image, to be written and
#    put back by a writer and a restorer that know nothing of them.
#    UBSan's runtime would bring libubsan and libstdc++ into every such
#    program (and into every link with the static library), and set
#    itself up at its first report, in the middle of a checkpoint. Trap
#    mode has no runtime and no state: a failed check is a ud2
#    instruction, the program dies of SIGILL, and run-sanitized.sh finds
#    where in the kernel's log. So the freestanding checkpoint code
#    (NOLIBC_SRC: the writer, after the registers are captured) can have
#    it too: it still calls nothing and writes nothing (check-nolibc).
#  - the restorer (rst/, RST_CFLAGS below): nothing. It runs after the
#    launcher unmapped itself, past the point of no return, as a blob that
#    may have no undefined symbol and no relocation (check-restorer.sh);
#    it stays the plain build's, byte for byte.
# A build directory keeps the setting it was first built with (the tests
# run make on it again, without SANITIZE): use one of its own.
SAN_MARK := $(wildcard $(BUILD)/.sanitize)
SANITIZE ?= $(if $(SAN_MARK),1,0)
SAN_PROG :=
SAN_PROG_OBJ :=
INTERNAL_OBJ := $(CORE_OBJ) $(TOOL_LIB_OBJ)
ifeq ($(SANITIZE),0)
ifneq ($(SAN_MARK),)
$(error $(BUILD) is a SANITIZE=1 build: use another BUILD)
endif
else
ifeq ($(SAN_MARK)$(wildcard $(BUILD)/libselfckpt),$(BUILD)/libselfckpt)
$(error $(BUILD) is built without SANITIZE: use another BUILD, e.g. BUILD=$(BUILD)-san)
endif
# (Only when missing: make install as another user, install.sh, must not
# need to write here.)
ifeq ($(SAN_MARK),)
$(shell mkdir -p $(BUILD) && touch $(BUILD)/.sanitize)
endif
SAN_PROG := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
# In every program linked with SAN_PROG: UBSan's reports to its log_path.
SAN_PROG_OBJ := $(BUILD)/tools/sanitize.o
# One trap per check (GCC merges a function's traps into one ud2
# otherwise), so that its address names the source line.
SAN_LIB ?= -fsanitize=undefined -fsanitize-undefined-trap-on-error \
	-fno-crossjumping -fno-tree-tail-merge
SAN_LIB_OBJ := $(CORE_OBJ) $(SO_ONLY_OBJ) $(BUILD)/preload/preload.o
$(SAN_LIB_OBJ): LIB_CFLAGS += $(SAN_LIB)
# The program does not checkpoint itself: in it, the freestanding C files
# are ordinary code, and sanitized too (not in the libraries).
INTERNAL_OBJ := $(CORE_ASM:%.S=$(BUILD)/%.o) \
	$(patsubst %.c,$(BUILD)/asan/%.o,$(CORE_SRC) $(TOOL_LIB_SRC))
# (-Wclobbered: instrumented, the handlers that take a checkpoint with
# selfckpt__ctx_save keep variables in memory that GCC then warns about.)
$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(SAN_PROG) -Wno-clobbered -MMD -MP -c $< -o $@
endif

# ---- the restorer blob (freestanding, position-independent) ----
# Never sanitized, with SANITIZE=1 too (see above).
RST_SRC := libselfckpt/rst/rst-main.c libselfckpt/rst/rst-lib.c \
	libselfckpt/rst/rst-timers.c \
	libselfckpt/nolibc/xxh64.c libselfckpt/nolibc/fmt.c
RST_ASM := libselfckpt/rst/rst-entry.S
RST_OBJ := $(RST_SRC:%.c=$(BUILD)/rst-obj/%.o) $(RST_ASM:%.S=$(BUILD)/rst-obj/%.o)
RST_CFLAGS := -std=gnu11 -O2 -g $(WARN) $(INC) -ffreestanding -nostdlib \
	-fno-builtin -fno-stack-protector -D_FORTIFY_SOURCE=0 -fpie \
	-fvisibility=hidden -fno-asynchronous-unwind-tables -fno-jump-tables \
	-fcf-protection=none -mgeneral-regs-only -DSCK_RESTORER

TOOLS_SRC := tools/selfckpt.c tools/cmd-info.c tools/cmd-restart.c \
	tools/cmd-run.c tools/cmd-checkpoint.c tools/cmd-verify.c tools/cmd-check.c
TOOLS_OBJ := $(TOOLS_SRC:%.c=$(BUILD)/%.o) $(BUILD)/rst-blob.o

LIBS := $(BUILD)/libselfckpt.so $(BUILD)/libselfckpt.a $(BUILD)/libselfckpt-preload.so
PROGS := $(BUILD)/selfckpt

.PHONY: all
all: $(LIBS) $(PROGS) $(BUILD)/selfckpt.pc check-freestanding $(BUILD)/format.stamp

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libselfckpt.so.$(VERSION): $(CORE_OBJ) $(SO_ONLY_OBJ) libselfckpt/exports.map
	$(Q)$(CC) $(LIB_LDFLAGS) -Wl,--version-script=libselfckpt/exports.map \
		-o $@ $(filter %.o,$^) -ldl
$(BUILD)/libselfckpt.so: $(BUILD)/libselfckpt.so.$(VERSION)
	$(Q)ln -sf libselfckpt.so.$(VERSION) $(BUILD)/libselfckpt.so.$(SOVERSION)
	$(Q)ln -sf libselfckpt.so.$(VERSION) $@

# The preload library (selfckpt run): the shared library and preload/.
PRELOAD_OBJ := $(BUILD)/preload/preload.o
$(BUILD)/libselfckpt-preload.so: $(CORE_OBJ) $(SO_ONLY_OBJ) $(PRELOAD_OBJ) preload/exports.map
	$(Q)$(CC) -shared -Wl,-z,now -Wl,-z,relro -Wl,-z,noexecstack -Wl,--no-undefined \
		-Wl,--version-script=preload/exports.map -o $@ $(filter %.o,$^) -ldl

$(BUILD)/libselfckpt.a: $(CORE_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

# Internal archive for the program and the tests: everything.
$(BUILD)/libselfckpt-internal.a: $(INTERNAL_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/rst-obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(RST_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/rst-obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(RST_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/rst.elf: $(RST_OBJ) libselfckpt/rst/rst.lds
	$(Q)$(CC) -nostdlib -static-pie -Wl,--no-dynamic-linker -Wl,-z,noexecstack \
		-Wl,-T,libselfckpt/rst/rst.lds -Wl,--build-id=none -o $@ $(RST_OBJ)
$(BUILD)/rst.bin: $(BUILD)/rst.elf
	$(Q)tools/check-restorer.sh $< 
	$(Q)objcopy -O binary $< $@
$(BUILD)/rst-blob.o: tools/rst-blob.S $(BUILD)/rst.bin
	$(Q)$(CC) -c -DRST_BIN='"$(BUILD)/rst.bin"' $< -o $@

$(BUILD)/selfckpt: $(TOOLS_OBJ) $(SAN_PROG_OBJ) $(BUILD)/libselfckpt-internal.a
	$(Q)$(CC) $(SAN_PROG) -o $@ $(TOOLS_OBJ) $(SAN_PROG_OBJ) \
		$(BUILD)/libselfckpt-internal.a -Wl,-z,now

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) $(SAN_PROG) -Itools -MMD -MP -c $< -o $@

# The freestanding checkpoint code may call nothing of libc but the
# stateless memory functions that the compiler emits for copies.
.PHONY: check-freestanding
check-freestanding: $(BUILD)/nolibc.stamp
$(BUILD)/nolibc.stamp: $(NOLIBC_OBJ) tools/check-nolibc.sh
	$(Q)tools/check-nolibc.sh $(BUILD)/nolibc-combined.o $(NOLIBC_OBJ)
	$(Q)touch $@

# The on-disk structures may hold no implicit padding: it would be
# uninitialised bytes in images and a layout that depends on the compiler.
$(BUILD)/format.stamp: libselfckpt/image-format.h libselfckpt/rst/rst.h
	@mkdir -p $(BUILD)
	$(Q)printf '#include "image-format.h"\n#include "rst/rst.h"\n' | \
		$(CC) -x c -std=gnu11 $(INC) -Wpadded -Werror -fsyntax-only -
	$(Q)touch $@

$(BUILD)/selfckpt.pc: selfckpt.pc.in
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

.PHONY: install
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include
	install -m 755 $(BUILD)/selfckpt $(DESTDIR)$(PREFIX)/bin/selfckpt
	install -m 755 $(BUILD)/libselfckpt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libselfckpt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libselfckpt.so.$(SOVERSION)
	ln -sf libselfckpt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libselfckpt.so
	install -m 755 $(BUILD)/libselfckpt-preload.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/libselfckpt.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/selfckpt.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' selfckpt.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/selfckpt.pc

# Patterns that must never appear where libc is not available (as CRIU's
# lint target): the freestanding restorer and checkpoint writer.
.PHONY: lint
lint:
	$(Q)tools/lint.sh

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

.PHONY: clean
clean:
	rm -rf $(BUILD)

# ---- tests -------------------------------------------------------------

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
E2E_SRC := $(filter-out tests/e2e/runner.c,$(wildcard tests/e2e/*.c))
E2E_BIN := $(E2E_SRC:tests/e2e/%.c=$(BUILD)/tests/e2e/bin/%)
# Programs for the test scripts (tests/e2e/*.sh), not run by the runner.
HELPER_SRC := $(wildcard tests/e2e/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/e2e/helpers/%.c=$(BUILD)/tests/e2e/helpers/%)
ABS_BUILD := $(abspath $(BUILD))

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libselfckpt-internal.a $(SAN_PROG_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) $(SAN_PROG) -Wno-missing-prototypes -Itests/unit -o $@ $< \
		$(SAN_PROG_OBJ) $(BUILD)/libselfckpt-internal.a -lcmocka -lxxhash

# End-to-end tests link the shared library, as most programs would.
$(BUILD)/tests/e2e/bin/%: tests/e2e/%.c tests/e2e/zdtm.h $(BUILD)/libselfckpt.so
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -Wno-missing-prototypes -O1 -Itests/e2e $(E2E_CFLAGS_$*) \
		-o $@ $< -L$(BUILD) -lselfckpt -Wl,-rpath,$(ABS_BUILD) -lm $(E2E_LIBS_$*)

# Threaded end-to-end tests (issue 3).
E2E_LIBS_threads01 := -lpthread
E2E_LIBS_threads02 := -lpthread
E2E_LIBS_threadnames01 := -lpthread
E2E_LIBS_threads03 := -lpthread
E2E_LIBS_threads64 := -lpthread
E2E_LIBS_threadsig01 := -lpthread
E2E_LIBS_guard01 := -lpthread
E2E_CFLAGS_openmp01 := -fopenmp
E2E_LIBS_openmp01 := -fopenmp
E2E_LIBS_pty01 := -lutil

$(BUILD)/tests/e2e/helpers/%: tests/e2e/helpers/%.c $(BUILD)/libselfckpt.so
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -Wno-missing-prototypes -o $@ $< \
		$(HELPER_LIBS_$*) -L$(BUILD) -lselfckpt -Wl,-rpath,$(ABS_BUILD)

# Helpers named run-*: programs the tests run under `selfckpt run`,
# unmodified, so built without the library (the preload brings it).
$(BUILD)/tests/e2e/helpers/run-%: tests/e2e/helpers/run-%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -Wno-missing-prototypes -o $@ $< -lpthread

HELPER_LIBS_ptyrun := -lutil

# The image editor of incompat.sh uses the codec and xxh64 from inside.
HELPER_LIBS_imgedit := $(BUILD)/libselfckpt-internal.a $(SAN_PROG) $(SAN_PROG_OBJ)
$(BUILD)/tests/e2e/helpers/imgedit: $(BUILD)/libselfckpt-internal.a $(SAN_PROG_OBJ)

$(BUILD)/tests/runner: tests/e2e/runner.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -o $@ $<

.PHONY: tests test check deps-test
tests: all $(UNIT_BIN) $(E2E_BIN) $(HELPER_BIN) $(BUILD)/tests/runner examples

deps-test:
	@tools/setup-deps.sh test

test: deps-test
	$(MAKE) tests
	$(MAKE) lint
	$(MAKE) fuzz-short
	tests/run-tests.sh $(BUILD)
	$(MAKE) test-sanitize

check: test

# The same suite again, built with SANITIZE=1 in a directory of its own
# (docs/sanitizers.md; part of `make test`: 9 to 20 minutes on 2 CPUs).
SAN_BUILD ?= $(BUILD)-san
.PHONY: test-sanitize
test-sanitize:
	$(MAKE) BUILD=$(SAN_BUILD) SANITIZE=1 tests
	tests/run-sanitized.sh $(SAN_BUILD)

# ---- examples and the demo ----------------------------------------------

EXAMPLES := $(BUILD)/examples/heat $(BUILD)/examples/heat-static

.PHONY: examples demo
examples: $(EXAMPLES)

$(BUILD)/examples/heat: examples/heat.c $(BUILD)/libselfckpt.so
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -Iinclude -o $@ $< -L$(BUILD) \
		-lselfckpt -Wl,-rpath,$(ABS_BUILD) -lm

# The same, with the library linked in statically.
$(BUILD)/examples/heat-static: examples/heat.c $(BUILD)/libselfckpt.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -Iinclude -o $@ $< \
		$(BUILD)/libselfckpt.a -lm

demo:
	@tools/setup-deps.sh demo
	$(MAKE) all examples
	tools/demo.sh $(BUILD)

# ---- benchmarks --------------------------------------------------------

$(BUILD)/bench/bench-ckpt: bench/bench-ckpt.c $(BUILD)/libselfckpt.so
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -Iinclude -o $@ $< -L$(BUILD) \
		-lselfckpt -Wl,-rpath,$(ABS_BUILD)

$(BUILD)/bench/bench-pause: bench/bench-pause.c $(BUILD)/libselfckpt.so
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -Iinclude -o $@ $< -L$(BUILD) \
		-lselfckpt -Wl,-rpath,$(ABS_BUILD) -lpthread

$(BUILD)/bench/bench-syscalls: bench/bench-syscalls.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $<

.PHONY: bench
bench: all $(BUILD)/bench/bench-ckpt $(BUILD)/bench/bench-pause $(BUILD)/bench/bench-syscalls
	bench/run.sh $(BUILD)
	bench/run-pause.sh $(BUILD)
	bench/run-preload.sh $(BUILD)

# ---- fuzzing the image reader (issue 6, hostile images) ------------------
# docs/fuzzing.md. A libFuzzer harness for the reader that `info` and
# `restart` use (tests/fuzz/), built with clang, AddressSanitizer and UBSan
# in $(BUILD)/fuzz, apart from everything else.
#   make fuzz-build   the harness, and imgtool for the corpus
#   make fuzz-short   about a minute, part of `make test`; fails on any finding
#   make fuzz-long    FUZZ_HOURS hours (default 4) on every CPU
# FUZZ_IMAGE_DEC=FILE builds the harness with another copy of the reader
# (with BUILD=elsewhere: to check that the fuzzer finds a planted bug).
FUZZ_CC ?= clang
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_IMAGE_DEC ?= libselfckpt/image-dec.c
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra $(INC) \
	-Itools -D_GNU_SOURCE -fno-strict-aliasing -fsanitize=address,undefined \
	-fno-sanitize-recover=all
# The reader, `info` and the harness get the fuzzer's coverage feedback;
# the mutator does not (only the reader's coverage should guide).
FUZZ_SRC := $(FUZZ_IMAGE_DEC) libselfckpt/nolibc/xxh64.c tools/cmd-info.c \
	tests/fuzz/fuzz_image.c
FUZZ_MUT_SRC := tests/fuzz/mutator.c tests/fuzz/imgmut.c
FUZZ_HDR := $(wildcard libselfckpt/*.h libselfckpt/nolibc/*.h tools/*.h tests/fuzz/*.h)

.PHONY: fuzz-build fuzz-short fuzz-long
fuzz-build: $(FUZZ_DIR)/fuzz-image $(FUZZ_DIR)/imgtool

$(FUZZ_DIR)/fuzz-image: $(FUZZ_SRC) $(FUZZ_MUT_SRC) $(FUZZ_HDR)
	@mkdir -p $(FUZZ_DIR)/mut
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c tests/fuzz/mutator.c -o $(FUZZ_DIR)/mut/mutator.o
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c tests/fuzz/imgmut.c -o $(FUZZ_DIR)/mut/imgmut.o
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $(FUZZ_SRC) \
		$(FUZZ_DIR)/mut/mutator.o $(FUZZ_DIR)/mut/imgmut.o

$(FUZZ_DIR)/imgtool: tests/fuzz/imgtool.c tests/fuzz/imgmut.c $(FUZZ_HDR) \
		libselfckpt/nolibc/xxh64.c
	@mkdir -p $(FUZZ_DIR)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/imgtool.c tests/fuzz/imgmut.c \
		libselfckpt/nolibc/xxh64.c

fuzz-short: fuzz-build
	tests/fuzz/run.sh short $(FUZZ_DIR)

fuzz-long: fuzz-build
	tests/fuzz/run.sh long $(FUZZ_DIR)
# ---- end of fuzzing ---------------------------------------------------------
