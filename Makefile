# camvault: the one build file.
#   make            build build/camvault and build/camsim
#   make test       install missing packages, build, run unit and end-to-end tests
#   make demo       install missing packages, build, record 4 simulated cameras
#   make sanitize   unit tests, fuzz targets and a short recording under ASan+UBSan (build-asan/);
#                   `make test` runs it too
PY      := /usr/bin/python3
BUILD   := build
NPROC   := $(shell nproc 2>/dev/null || echo 2)
E2E_JOBS ?= 3
PKGS    := libavformat libavcodec libavutil libswscale lmdb openssl libarchive libmicrohttpd
CC      ?= gcc
CFLAGS  ?= -O2 -g
# -Wno-format-truncation: every snprintf in camvault truncates on purpose (bounded messages).
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla \
           -Wno-format-truncation -fno-strict-aliasing -pthread -MMD -MP -I. \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm
ifneq ($(SANITIZE),)
# GCC 12's UBSan instrumentation makes -Wnonnull see null paths that cannot happen (ledger_parse).
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -Wno-nonnull
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(wildcard common/*.c storage-layout/*.c indexer/*.c integrity/*.c exporter/*.c \
                       recorder/*.c server/*.c gb/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/exporter/viewer_html.o
CLI_SRC  := $(wildcard cli/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o) $(BUILD)/cli/help_text.o
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
SIM_SRC  := $(wildcard tools/camsim/*.c)
SIM_OBJ  := $(SIM_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps test unit e2e demo clean format bench bench-quick man install deb
all: $(BUILD)/camvault $(BUILD)/camsim man

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The package viewer page, built into the program as one C string (no trigraphs, no escapes
# left to chance: \ " and ? are escaped, every line ends in \n).
$(BUILD)/exporter/viewer_html.c: exporter/viewer.html
	@mkdir -p $(dir $@)
	{ echo 'const char exp_viewer_template[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/exporter/viewer_html.o: $(BUILD)/exporter/viewer_html.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

# The help of every command from its one page, docs/man/camvault[-COMMAND].txt (cli/help.h), and
# the version from debian/changelog's first line: both into the program as C strings.
MAN_SRC := docs/man/camvault.txt $(sort $(wildcard docs/man/camvault-*.txt))
VERSION := $(shell awk -F'[()]' 'NR == 1 {print $$2}' debian/changelog)
$(BUILD)/cli/help_text.c: $(MAN_SRC) tools/help2c.sh debian/changelog
	@mkdir -p $(dir $@)
	tools/help2c.sh '$(VERSION)' $(MAN_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/cli/help_text.o: $(BUILD)/cli/help_text.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(BUILD)/libcamvault.a: $(LIB_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/camvault: $(BUILD)/camvault.o $(CLI_OBJ) $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/camsim: $(SIM_OBJ) $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The live viewers' load generator of tests/bench/live_viewers.py (one epoll loop, no library).
$(BUILD)/live-load: $(BUILD)/tests/bench/live_load.o
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/index-bench: $(BUILD)/tests/bench/index_bench.o $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The package reader's fuzz target with its own driver (tests/fuzz/fuzz_verify.c).
$(BUILD)/fuzz-verify: $(BUILD)/tests/fuzz/fuzz_verify.o $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The fault-injection shim of tests/e2e/test_42_faults.py (LD_PRELOAD; not part of camvault).
$(BUILD)/fsyncshim.so: tests/faults/fsyncshim.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

# ---- sanitizer run: `make sanitize` (and `make test`) ----
# ASan + UBSan in their own build dir (build-asan, ~1-2 min to build on 2 cores): the unit tests,
# both fuzz targets (fuzz-rtsp's seed corpus + mutations; fuzz-verify on a real package, in
# test_91) and a short recording (test_106: the own RTSP client with Digest against
# gst-rtsp-server, libavformat, camsim, the API server and an export). Any finding fails:
# halt_on_error stops the process, and the tests check exit codes and logs.
SAN_BUILD := build-asan
SAN_ENV   := ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
             UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
.PHONY: sanitize
sanitize:
	@$(MAKE) --no-print-directory -j$(NPROC) SANITIZE=address,undefined BUILD=$(SAN_BUILD) all \
	    $(SAN_BUILD)/unit-tests $(SAN_BUILD)/fuzz-verify $(SAN_BUILD)/fuzz-rtsp $(SAN_BUILD)/fuzz-sip
	$(SAN_ENV) $(SAN_BUILD)/unit-tests
	@mkdir -p $(SAN_BUILD)/fuzz-out
	cd $(SAN_BUILD)/fuzz-out && $(SAN_ENV) ../fuzz-rtsp ../../tests/fuzz/corpus-rtsp \
	    $(FUZZ_RTSP_ITERS) 20261203
	cd $(SAN_BUILD)/fuzz-out && $(SAN_ENV) ../fuzz-sip $(FUZZ_SIP_ITERS) 20261204
	cd tests/e2e && $(SAN_ENV) CAMVAULT_BUILD=$(abspath $(SAN_BUILD)) $(PY) -m pytest -q \
	    -p no:cacheprovider test_106_secrets.py test_91_export_trust.py -k "secrets or fuzzed"
	@echo "sanitize: 0 findings (ASan+UBSan: unit tests, fuzz-rtsp, fuzz-sip, fuzz-verify, recording)"
# ---- end of the sanitizer run ----

# ---- the RTSP/RTP client's fuzz target (tests/fuzz/fuzz_rtsp.c) ----
# Its own driver: the seeds of tests/fuzz/corpus-rtsp/ and N deterministic mutations of them.
# `make fuzz-rtsp-libfuzzer` builds the same target for libFuzzer (clang, -fsanitize=fuzzer).
FUZZ_RTSP_ITERS ?= 3000
$(BUILD)/fuzz-rtsp: $(BUILD)/tests/fuzz/fuzz_rtsp.o $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: fuzz-rtsp fuzz-rtsp-libfuzzer
fuzz-rtsp: $(BUILD)/fuzz-rtsp
	@mkdir -p $(BUILD)/fuzz-out
	cd $(BUILD)/fuzz-out && $(abspath $(BUILD)/fuzz-rtsp) $(abspath tests/fuzz/corpus-rtsp) \
	    $(FUZZ_RTSP_ITERS) 20261203

# (CFLAGS and LDFLAGS through the environment, so that the Makefile's += still apply.)
fuzz-rtsp-libfuzzer:
	CFLAGS="-O1 -g -fsanitize=fuzzer-no-link -DFUZZ_LIBFUZZER -Wno-unknown-warning-option \
	    -Wno-error=string-concatenation -Wno-error=format-nonliteral" \
	LDFLAGS="-fsanitize=fuzzer" $(MAKE) --no-print-directory CC=clang BUILD=build-libfuzzer \
	    SANITIZE=address,undefined build-libfuzzer/fuzz-rtsp
	@echo "run: mkdir -p /tmp/rtsp-corpus && build-libfuzzer/fuzz-rtsp -max_total_time=60 /tmp/rtsp-corpus tests/fuzz/corpus-rtsp"
# ---- end of the RTSP fuzz target ----

# ---- the GB/T 28181 SIP and MANSCDP parsers' fuzz target (tests/fuzz/fuzz_sip.c) ----
# Built-in seeds and N deterministic mutations of them; under ASan+UBSan in `make sanitize`.
FUZZ_SIP_ITERS ?= 20000
$(BUILD)/fuzz-sip: $(BUILD)/tests/fuzz/fuzz_sip.o $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: fuzz-sip
fuzz-sip: $(BUILD)/fuzz-sip
	@mkdir -p $(BUILD)/fuzz-out
	cd $(BUILD)/fuzz-out && $(abspath $(BUILD)/fuzz-sip) $(FUZZ_SIP_ITERS) 20261204

# The parser's figure of docs/gb28181.md: SIP messages parsed per second on one core.
$(BUILD)/gb-sip-bench: $(BUILD)/tests/bench/gb_sip_bench.o $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# ---- end of the SIP fuzz target ----

$(BUILD)/unit-tests: $(UNIT_OBJ) $(BUILD)/libcamvault.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@tools/deps.sh test

# ---- man pages, make install, make deb (docs/install.md) ----
# Each man page is the program's own --help output set in roff (tools/help2man.awk), so the two
# cannot disagree; camvault(1) is `camvault --help`, camvault-COMMAND(1) `camvault COMMAND --help`.
MAN_PAGES := $(patsubst docs/man/%.txt,$(BUILD)/man/%.1,$(MAN_SRC))
man: $(MAN_PAGES)

$(BUILD)/man/camvault.1: $(BUILD)/camvault tools/help2man.awk
	@mkdir -p $(dir $@)
	$(BUILD)/camvault --help | awk -v version='$(VERSION)' -f tools/help2man.awk > $@.tmp
	mv $@.tmp $@

$(BUILD)/man/camvault-%.1: $(BUILD)/camvault tools/help2man.awk
	@mkdir -p $(dir $@)
	$(BUILD)/camvault $* --help | awk -v version='$(VERSION)' -f tools/help2man.awk > $@.tmp
	mv $@.tmp $@

# PREFIX and DESTDIR as usual. The web UI goes to $(PREFIX)/share/camvault/web, where the server
# finds it from the binary's place ($(PREFIX)/bin/../share/camvault/web) without --web. The
# systemd unit goes to $(SYSTEMDDIR) with its ExecStart pointed at $(PREFIX)/bin/camvault.
PREFIX     ?= /usr/local
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/camvault/web $(DESTDIR)$(SYSTEMDDIR)
	install -m 0755 $(BUILD)/camvault $(DESTDIR)$(PREFIX)/bin/camvault
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/
	cp -R server/web/. $(DESTDIR)$(PREFIX)/share/camvault/web/
	find $(DESTDIR)$(PREFIX)/share/camvault/web -type d -exec chmod 0755 {} + -o \
	    -type f -exec chmod 0644 {} +
	sed 's|/usr/bin/camvault|$(PREFIX)/bin/camvault|g' debian/camvault.service > $(DESTDIR)$(SYSTEMDDIR)/camvault.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/camvault.service

# The Debian package, built from a copy of the tree in build/deb/ (dpkg-buildpackage writes the
# package next to the source it builds): build/deb/camvault_VERSION_ARCH.deb. Installs its build
# dependencies first (tools/deb.sh: debhelper, dpkg-dev, lintian and the build set of deps.sh),
# then runs lintian on the package.
deb:
	@tools/deb.sh
# ---- end of man pages, install, deb ----

# Every #include "dir/..." points the way docs/architecture.md's `layering` block allows; a
# wrong-way include fails with "file:line: A includes B, which docs/architecture.md does not allow".
.PHONY: check-includes
check-includes:
	@$(PY) tools/check-includes.py

# Dependencies first (in their own make so that pkg-config sees the new packages). The benchmark
# smoke run comes last, in its own make so that -j never overlaps it with the e2e tests; it ends
# with its own runner line ("bench-quick: N passed, N failed in S s"), which stays the last line.
test: deps
	@$(MAKE) --no-print-directory check-includes
	@$(MAKE) --no-print-directory -j$(NPROC) all $(BUILD)/unit-tests $(BUILD)/fuzz-verify \
	    $(BUILD)/fuzz-rtsp $(BUILD)/fuzz-sip $(BUILD)/fsyncshim.so
	@$(MAKE) --no-print-directory unit fuzz-rtsp fuzz-sip e2e
	@$(MAKE) --no-print-directory sanitize
	@$(MAKE) --no-print-directory bench-quick

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

# The e2e tests mostly wait on cameras and clocks, so they run E2E_JOBS test files at a time
# (pytest-xdist; a file's tests stay together and share its fixtures). E2E_JOBS=0 runs them one
# by one.
e2e: all $(BUILD)/fuzz-verify $(BUILD)/fsyncshim.so
	cd tests/e2e && $(PY) -m pytest -q -p no:cacheprovider -n $(E2E_JOBS) --dist loadfile \
	    $(PYTEST_ARGS)

demo:
	@tools/deps.sh demo
	@$(MAKE) --no-print-directory all
	@tools/demo.sh

# Every benchmark (camsim, ingest, export, index, retention, http), JSON in bench/results/, one
# table, docs/ingest-scaling.png; ~15-20 min, loads both cores. See docs/performance.md.
# BENCH_ARGS='--only ingest,export' runs some of them.
bench: all $(BUILD)/index-bench $(BUILD)/live-load
	@tools/deps.sh test
	$(PY) tests/bench/run.py $(BENCH_ARGS)

# The same drivers on a few cameras for seconds each: a smoke run (no timing is checked) that
# `make test` runs last. Results under build/bench-quick/; last line "bench-quick: N passed, ...".
bench-quick: all $(BUILD)/index-bench $(BUILD)/live-load
	@tools/deps.sh test
	@$(PY) tests/bench/run.py --quick

format:
	clang-format -i $(LIB_SRC) camvault.c $(CLI_SRC) $(UNIT_SRC) $(SIM_SRC) $(wildcard */*.h */*/*.h)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
