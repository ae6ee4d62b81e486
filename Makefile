# mkv: minikeyvalue as a FastCGI application.  `make help` lists the targets.
CC ?= cc
BUILD ?= build
VERSION = 0.1
PKGS = libcurl jansson fcgi openssl expat
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Werror -std=gnu11
# Each object's header dependencies, written beside it as X.d (included below).
DEPFLAGS = -MMD -MP
# Hardening in every build: the stack protector always.  _FORTIFY_SOURCE
# (bounds-checked copies into buffers of known size) needs optimisation, and
# under a sanitizer its __memcpy_chk and friends would route copies around
# the sanitizer's interceptors, which check the same and more: left out of
# -O0 and -fsanitize builds.  -U first: some compilers predefine it.
HARDEN = -fstack-protector-strong \
    $(if $(and $(filter-out -O0,$(filter -O%,$(CFLAGS))),$(if $(findstring -fsanitize,$(CFLAGS)),,y)),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
# pkg-config runs once per make, on first use (so after `make deps` has
# installed the packages, and not at all for `make help`), and a failure
# stops the build with pkg-config's own message instead of compiling
# without the flags.  PKG_CFLAGS/PKG_LIBS replace themselves with the result.
pkg_config = $(call pkg_check,$(shell pkg-config $1 $(PKGS) 2>&1; echo "pkg-config-exit=$$?"))
pkg_check = $(if $(filter pkg-config-exit=0,$1),$(filter-out pkg-config-exit=%,$1),$(error pkg-config $(PKGS) failed (run `make deps`): $(filter-out pkg-config-exit=%,$1)))
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkg_config,--cflags))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $$(call pkg_config,--libs))$(PKG_LIBS)
CPPFLAGS += -Ilib $(PKG_CFLAGS) -D_GNU_SOURCE
LDLIBS += $(PKG_LIBS) -ldb -lpthread

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
FCGI_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(wildcard fcgi/*.c))
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Every admin/X.c is one tool, build/mkv-X.
ADMIN_BIN = $(patsubst admin/%.c,$(BUILD)/mkv-%,$(wildcard admin/*.c))
# Every tools/X.c is a benchmark or helper program, build/tools/X.
TOOLS_BIN = $(patsubst tools/%.c,$(BUILD)/tools/%,$(wildcard tools/*.c))
BINS = $(BUILD)/mkv-fcgi $(ADMIN_BIN) $(TOOLS_BIN)
# LD_PRELOAD shims the fault tests put under the workers: tests/shim/X.c is
# build/tests/libX.so.
SHIMS = $(patsubst tests/shim/%.c,$(BUILD)/tests/lib%.so,$(wildcard tests/shim/*.c))
# Helpers the e2e tests run (tests/tools/X.c is build/tests/tools/X), built
# with this build's flags: linked with build-asan/ or build-tsan/ objects
# they need the same sanitizer runtime.
TEST_TOOLS = $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))
LDLIBS_ldb-write = -lleveldb
LDLIBS_import = -lleveldb

.PHONY: all deps run stop test unit e2e faults asan-test tsan-test tsan-run bench bench-scale install man fuzz \
    fuzz-bins clean format help
.SECONDARY:
all: $(BINS) $(UNIT_BIN) $(SHIMS) $(TEST_TOOLS)

help:
	@echo "make            build into $(BUILD)/"
	@echo "make deps       install the Debian packages (as root), and the npm S3 SDK the tests use"
	@echo "make run        deps + build + start a local cluster on :3000"
	@echo "make stop       stop that cluster"
	@echo "make test       deps + build + unit and end-to-end tests"
	@echo "make faults     the fault and hostile-input suites at full length"
	@echo "make asan-test  the same tests with AddressSanitizer/UBSan"
	@echo "make tsan-test  ThreadSanitizer (build-tsan/): the unit tests, and the e2e suites"
	@echo "                that run concurrent requests ($(filter-out -k,$(TSAN_E2E))) behind nginx"
	@echo "make bench      benchmarks against stock nginx (bench/results.md)"
	@echo "make bench-scale  the index at up to 100M keys (bench/scale-results.md)"
	@echo "make fuzz       libFuzzer on the parsers (FUZZ_SECONDS=60 each)"

deps:
	@tools/deps
	@tools/deps-js

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(HARDEN) $(CFLAGS) $(WARN) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/mkv-fcgi: $(FCGI_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mkv-%: $(BUILD)/admin/%.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(LDLIBS_$*)

$(BUILD)/tools/%: $(BUILD)/tools/%.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Without $(CFLAGS): no sanitizer runtime of its own in a preloaded library.
$(BUILD)/tests/lib%.so: tests/shim/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -fstack-protector-strong -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 $(WARN) \
	    $(DEPFLAGS) -D_GNU_SOURCE -fPIC -shared -o $@ $< -ldl

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(HARDEN) $(CFLAGS) $(WARN) $(DEPFLAGS) -o $@ $< $(LIB_OBJ) \
	    $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(HARDEN) $(CFLAGS) $(WARN) $(DEPFLAGS) -o $@ $< $(LIB_OBJ) \
	    $(LDFLAGS) $(LDLIBS) $(LDLIBS_$*)

# HTTPS on 3443 beside HTTP on 3000 (MKV_TLS_PORT= turns it off).
run: deps all
	@MKV_TLS_PORT=$${MKV_TLS_PORT-3443} MKV_S3_PORT=$${MKV_S3_PORT-3900} \
	    MKV_S3_TLS_PORT=$${MKV_S3_TLS_PORT-3943} tools/cluster start

stop:
	@tools/cluster stop

unit: $(UNIT_BIN)
	@tools/run-tests unit $(UNIT_BIN)

e2e: $(BINS) $(SHIMS) $(TEST_TOOLS)
	@MKV_BIN=$(abspath $(BUILD)) tools/run-tests e2e

test: deps all
	@MKV_BIN=$(abspath $(BUILD)) tools/run-tests all $(UNIT_BIN)

# The fault and hostile-input suites at full length (50 worker kills in a
# row, ...), ending with the table of figures; `make test` runs them shortened.
faults: deps all
	@MKV_BIN=$(abspath $(BUILD)) MKV_FAULTS=full \
	    MKV_E2E_ARGS="-k test_faults -k test_hostile -k test_pools -k test_access" tools/run-tests e2e

# Benchmarks (not part of `make test`): prints a table, writes bench/results.md.
bench: deps all
	@MKV_BIN=$(abspath $(BUILD)) tools/bench

# The index at scale (not part of `make bench`: up to 100M keys, about 35 GB
# of disk and 1 h 45 min on 2 cores; it prints its own estimate first).
bench-scale: deps all
	@MKV_BIN=$(abspath $(BUILD)) tools/bench --scale

# The same suite against binaries built with AddressSanitizer and UBSan.
asan-test: deps
	@LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) $(MAKE) --no-print-directory BUILD=build-asan \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" test

# ThreadSanitizer: each worker's 64 threads share the index, the statistics
# page and the request table (mmaps), and the admin tools run threads too.
# TSan slows code 5-15x, so: the unit tests, then the e2e suites that send
# concurrent requests to the threaded workers (and run the threaded admin
# tools), behind nginx only: the other fronts reach the same worker code.  A
# few minutes on 2 cores.  tests/tsan.supp silences only reports inside the
# uninstrumented libraries (Berkeley DB's latches; libcurl and libfcgi gave
# none), each entry with its reason.  Any other report fails the run: the
# harness finds "WARNING: ThreadSanitizer" in the worker logs, and a unit
# test or admin tool with a report exits 66.
TSAN_E2E = -k test_basic -k test_values -k test_observability -k test_rebuild_rebalance \
    -k test_admin
tsan-test: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan \
	    CFLAGS="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=thread" tsan-run

tsan-run: all
	@TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp) second_deadlock_stack=1 $${TSAN_OPTIONS-}" \
	    MKV_BIN=$(abspath $(BUILD)) MKV_E2E_ARGS="--front nginx $(TSAN_E2E)" \
	    tools/run-tests all $(UNIT_BIN)

# Coverage-guided fuzzing (libFuzzer, clang) of the parsers of untrusted
# bytes: tests/fuzz/fuzz_X.c runs FUZZ_SECONDS on a copy of tests/fuzz/corpus/X.
FUZZ_SECONDS ?= 60
FUZZ_BIN = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(HARDEN) $(CFLAGS) -fsanitize=fuzzer $(WARN) $(DEPFLAGS) -o $@ $< \
	    $(LIB_OBJ) $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

fuzz:
	@tools/deps fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" fuzz-bins
	@set -e; for f in $(patsubst $(BUILD)/%,build-fuzz/%,$(FUZZ_BIN)); do \
	    n=$${f##*/fuzz_}; work=$$(mktemp -d); mkdir $$work/corpus; \
	    cp tests/fuzz/corpus/$$n/* $$work/corpus/; \
	    echo "== $$f ($(FUZZ_SECONDS)s)"; \
	    if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	            -artifact_prefix=$$work/ $$work/corpus >$$work/log 2>&1; then \
	        grep -E "^(==[0-9]+==ERROR|SUMMARY)|^[a-z_]+\.c:[0-9]+|Test unit written" $$work/log; \
	        for c in $$work/crash-* $$work/leak-* $$work/timeout-*; do \
	            [ -e "$$c" ] && { echo "input:"; od -c "$$c" | head -8; }; done; \
	        echo "$$f found a crash: add the input to tests/fuzz/corpus/$$n once fixed"; exit 1; \
	    fi; \
	    grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units)" $$work/log || true; \
	    rm -rf $$work; done; echo "fuzz: no crash"

# Installs binaries, configuration, front/volume configs and systemd units
# under $(DESTDIR)$(PREFIX), touching nothing else on the system.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= $(PREFIX)/etc
LOCALSTATEDIR ?= /var
DATADIR ?= $(PREFIX)/share
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(DATADIR)/man
INSTALL_BINS = $(BUILD)/mkv-fcgi $(ADMIN_BIN)
MAN_PAGES = $(INSTALL_BINS:$(BUILD)/%=$(BUILD)/man/%.1)

# Man pages are each binary's --help, rendered by help2man (Debian package).
man_name_mkv-fcgi = FastCGI worker of the mkv key-value store
man_name_mkv-rebuild = rebuild the mkv index from the files on the volumes
man_name_mkv-rebalance = move mkv replicas to where placement puts them, or repair them
man_name_mkv-upkeep = checkpoint the mkv index, remove old logs, make hot backups
man_name_mkv-import = copy an original minikeyvalue LevelDB index into mkv
man_name_mkv-dump = print the mkv index as text
man_name_mkv-s3-expire = remove abandoned S3 multipart uploads from mkv
man_name_mkv-delete = remove mkv keys by their raw bytes, files included
$(BUILD)/man/%.1: $(BUILD)/%
	@mkdir -p $(dir $@)
	PATH=$(abspath $(BUILD)):$$PATH help2man -N --no-discard-stderr --version-string=$(VERSION) \
	    -n "$(man_name_$*)" -o $@ $*

man: $(MAN_PAGES)

install: $(INSTALL_BINS) $(MAN_PAGES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/mkv $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(DATADIR)/mkv/nginx $(DESTDIR)$(DATADIR)/mkv/lighttpd $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/
	test -e $(DESTDIR)$(SYSCONFDIR)/mkv/mkv.conf || \
	    sed 's|^db = ./run/index$$|db = $(LOCALSTATEDIR)/lib/mkv/index|' conf/mkv.conf \
	        >$(DESTDIR)$(SYSCONFDIR)/mkv/mkv.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/mkv/volume-writers.conf || \
	    install -m 644 conf/volume-writers.conf $(DESTDIR)$(SYSCONFDIR)/mkv/volume-writers.conf
	install -m 644 conf/crontab.example $(DESTDIR)$(DATADIR)/mkv/
	install -m 644 nginx/mkv-location.conf nginx/mkv-prefix.conf nginx/mkv-tls.conf nginx/mkv-s3.conf nginx/mkv-s3.js nginx/front.conf.in nginx/volume.conf.in \
	    $(DESTDIR)$(DATADIR)/mkv/nginx/
	install -m 644 lighttpd/front.conf.in lighttpd/front-spawn.conf.in $(DESTDIR)$(DATADIR)/mkv/lighttpd/
	for u in conf/systemd/*.in; do \
	    sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	        -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g' \
	        $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u .in); \
	done

format:
	clang-format -i lib/*.[ch] fcgi/*.[ch] admin/*.c tests/unit/*.[ch] tests/shim/*.c $(wildcard tools/*.c)

clean:
	rm -rf build build-asan build-tsan build-fuzz

# The header dependencies the compiler wrote (DEPFLAGS): after a header
# changes, exactly the objects that include it are rebuilt.
-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d)
