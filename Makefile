# consent-milter - GNU Makefile (no autotools).
#
#   make                 build everything into build/
#   make check           build and run every test (unit, CLI, milter protocol, Postfix end to end)
#   make check SANITIZE=1  the same, built with AddressSanitizer + UBSan (into build/san/)
#   make valgrind        unit tests under valgrind
#   make soak            concurrent writers, 50 runs (CM_CONC_ROWS, CM_CONC_RUNS)
#   make bench           benchmarks (prints figures; not a test)
#   make deps            install missing Debian build/test dependencies (root)
#   make run             build, create the example index, run the milter in the foreground
#   make install / uninstall   honour PREFIX, DESTDIR, SYSCONFDIR
#   make deb             the Debian package (dpkg-buildpackage -us -uc -b; into ../)
#
# CPPFLAGS, CFLAGS and LDFLAGS from the environment or the command line are
# used (dpkg-buildflags); warnings are errors unless WERROR= is given
# (debian/rules does: a newer compiler's new warning must not break a
# package build).  The version is in the file VERSION, and only there.

PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

CC      ?= cc
PKG_CONFIG ?= pkg-config
VERSION := $(shell cat VERSION 2>/dev/null)
WERROR  ?= -Werror

BUILD := build
OPT   := -O2
SANFLAGS :=
FORTIFY := -D_FORTIFY_SOURCE=2
ifneq ($(findstring _FORTIFY_SOURCE,$(CPPFLAGS)),)
FORTIFY :=
endif
ifeq ($(SANITIZE),1)
BUILD    := build/san
OPT      := -O1
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FORTIFY  := -U_FORTIFY_SOURCE
endif

PKGS := lmdb libidn2 libcrypto yaml-0.1 milter cmocka libsystemd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# libunistring has no pkg-config file on Debian 12
CORE_LIBS   := $(shell $(PKG_CONFIG) --libs lmdb libidn2 libcrypto 2>/dev/null) -lunistring
CONFIG_LIBS := $(shell $(PKG_CONFIG) --libs yaml-0.1 2>/dev/null)
MILTER_LIBS := $(shell $(PKG_CONFIG) --libs milter libsystemd 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)
WEB_LIBS    := $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null)
# libpq: upstream/ (the shared store) only; linked into consentctl, never
# into the milter
PG_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
PG_LIBS     := $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null)

WARN   := -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CFLAGS ?= $(OPT) -g
BASE_CFLAGS := -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) $(FORTIFY) -fstack-protector-strong -fPIE \
	-D_GNU_SOURCE -pthread $(SANFLAGS) -I. -MMD -MP
ALL_CFLAGS := $(BASE_CFLAGS) $(PKG_CFLAGS) -DCM_VERSION='"$(VERSION)"'
# core/ gets only the include flags of the libraries it links
CORE_CFLAGS := $(BASE_CFLAGS) $(shell $(PKG_CONFIG) --cflags lmdb libidn2 libcrypto 2>/dev/null)
ALL_LDFLAGS := -pie -pthread -Wl,-z,relro,-z,now $(SANFLAGS) $(LDFLAGS)

CORE_SRC   := $(wildcard core/*.c)
CONFIG_SRC := $(wildcard config/*.c)
MILTER_SRC := $(wildcard milter/*.c)
CTL_SRC    := $(wildcard consentctl/*.c)
WEB_SRC    := $(wildcard web/*.c)
POLICYD_SRC := $(wildcard policyd/*.c)
# consent-policy shares these milter modules (none of them calls
# libmilter; reply.c's text builder is used, its smfi_setreply() is not)
POLICYD_MILTER := $(addprefix milter/,db.c live.c log.c reply.c verdict.c)
UPSTREAM_SRC := $(wildcard upstream/*.c)
UPTEST_SRC := $(wildcard tests/upstream/test_*.c)
UPTESTLIB_SRC := $(filter-out $(UPTEST_SRC),$(wildcard tests/upstream/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TESTLIB_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
BENCH_SRC  := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBCORE   := $(BUILD)/libcmcore.a
LIBCONFIG := $(BUILD)/libcmconfig.a
LIBUPSTREAM := $(BUILD)/libcmupstream.a
MILTER    := $(BUILD)/consent-milter
CTL       := $(BUILD)/consentctl
WEB       := $(BUILD)/consent-web
POLICYD   := $(BUILD)/consent-policy
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# tests against a real PostgreSQL (tests/upstream/*.sh start it)
UPTEST_BIN := $(patsubst tests/upstream/%.c,$(BUILD)/tests/upstream/%,$(UPTEST_SRC))
# not $(BUILD)/consentctl/: that is the program's own path
CTL_OBJ   := $(patsubst consentctl/%.c,$(BUILD)/consentctl.o/%.o,$(CTL_SRC))

PROGRAMS := $(if $(MILTER_SRC),$(MILTER)) $(if $(CTL_SRC),$(CTL)) $(if $(WEB_SRC),$(WEB)) \
	$(if $(POLICYD_SRC),$(POLICYD))

.PHONY: all check valgrind soak bench deps run install uninstall clean unit deb
.SECONDARY:
# The protocol and end-to-end tests write known records with this tool
SEED := $(BUILD)/tests/seed
# and make the daemon run out of memory at a chosen point with this
# LD_PRELOAD shim (never installed; built without the sanitizers)
FAILALLOC := $(BUILD)/tests/failalloc.so

all: $(PROGRAMS) $(UNIT_BIN) $(BENCH_BIN) $(SEED) $(UPTEST_BIN) $(FAILALLOC)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The layering is checked by the build: core/ compiles without libmilter's,
# libyaml's and libpq's include flags and with stand-ins for
# libmilter's, libyaml's, libpq's and syslog's headers that stop the build with
# #error, found before the system's through -I; config/ gets the libmilter
# and syslog ones.  (libmilter and libyaml install into /usr/include, so
# leaving out their -I flags alone would not catch an include.)
POISON := $(BUILD)/poison
POISON_CORE   := $(addprefix $(POISON)/core/,yaml.h libmilter/mfapi.h syslog.h \
	libpq-fe.h postgresql/libpq-fe.h)
POISON_CONFIG := $(addprefix $(POISON)/config/,libmilter/mfapi.h syslog.h \
	libpq-fe.h postgresql/libpq-fe.h)
$(POISON_CORE) $(POISON_CONFIG):
	@mkdir -p $(dir $@)
	@echo '#error "this layer must not include $(@F): core/ uses neither libmilter, libyaml, libpq nor syslog; config/ neither libmilter, libpq nor syslog"' > $@

$(call obj,$(CORE_SRC)): $(BUILD)/core/%.o: core/%.c | $(POISON_CORE)
	@mkdir -p $(dir $@)
	$(CC) -I$(POISON)/core $(CORE_CFLAGS) -c -o $@ $<

$(call obj,$(CONFIG_SRC)): $(BUILD)/config/%.o: config/%.c | $(POISON_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) -I$(POISON)/config $(ALL_CFLAGS) -c -o $@ $<

# The programs print the version (-V, --version).
$(BUILD)/milter/main.o $(BUILD)/consentctl.o/main.o $(BUILD)/policyd/main.o: VERSION

$(LIBCORE): $(call obj,$(CORE_SRC))
	@mkdir -p $(dir $@); rm -f $@
	ar rcs $@ $^

$(LIBCONFIG): $(call obj,$(CONFIG_SRC))
	@mkdir -p $(dir $@); rm -f $@
	ar rcs $@ $^

# upstream/: the only objects compiled with libpq's include flags
$(call obj,$(UPSTREAM_SRC) $(UPTEST_SRC) $(UPTESTLIB_SRC)): $(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PG_CFLAGS) -c -o $@ $<

$(LIBUPSTREAM): $(call obj,$(UPSTREAM_SRC))
	@mkdir -p $(dir $@); rm -f $@
	ar rcs $@ $^

$(MILTER): $(call obj,$(MILTER_SRC)) $(LIBCONFIG) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MILTER_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

$(POLICYD): $(call obj,$(POLICYD_SRC) $(POLICYD_MILTER)) $(LIBCONFIG) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MILTER_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

$(BUILD)/consentctl.o/%.o: consentctl/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(CTL): $(CTL_OBJ) $(LIBUPSTREAM) $(LIBCONFIG) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PG_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

$(WEB): $(call obj,$(WEB_SRC)) $(LIBCONFIG) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(WEB_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(call obj,$(TESTLIB_SRC)) $(LIBCONFIG) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

# consent-policy's decision, with the modules it is linked with
$(BUILD)/tests/test_pddec: $(BUILD)/tests/unit/test_pddec.o $(call obj,$(TESTLIB_SRC)) \
		$(call obj,policyd/decide.c policyd/request.c $(POLICYD_MILTER)) $(LIBCONFIG) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)
$(BUILD)/tests/upstream/%: $(BUILD)/tests/upstream/%.o $(call obj,$(UPTESTLIB_SRC)) \
		$(LIBUPSTREAM) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PG_LIBS) $(CORE_LIBS)

# consentctl's context (ctl_ctx_open) with the modules it is linked with
$(BUILD)/tests/upstream/test_ctlctx: $(BUILD)/tests/upstream/test_ctlctx.o \
		$(filter-out %/main.o,$(CTL_OBJ)) $(LIBUPSTREAM) $(LIBCONFIG) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PG_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

# milter.mail_reply's choice (milter/mailmix.c), on its own
$(BUILD)/tests/test_mailmix: $(BUILD)/tests/unit/test_mailmix.o $(call obj,$(TESTLIB_SRC)) \
		$(call obj,milter/mailmix.c) $(LIBCONFIG) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

# the decision line's two builders (milter/log.c), on their own
$(BUILD)/tests/test_logline: $(BUILD)/tests/unit/test_logline.o $(call obj,$(TESTLIB_SRC)) \
		$(call obj,milter/log.c) $(LIBCONFIG) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

# consent-web's group commit, on its own
$(BUILD)/tests/test_webwriter: $(BUILD)/tests/unit/test_webwriter.o $(call obj,$(TESTLIB_SRC)) \
		$(call obj,web/writer.c) $(LIBCONFIG) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONFIG_LIBS) $(CORE_LIBS) -ldl

$(SEED): $(BUILD)/tests/milter/seed.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CORE_LIBS)

$(FAILALLOC): tests/milter/failalloc.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) $(OPT) -g -D_GNU_SOURCE -fPIC -shared -o $@ $< -ldl

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBCONFIG) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(MILTER_LIBS) $(CONFIG_LIBS) $(CORE_LIBS)

unit: $(UNIT_BIN)

check: all
	BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run

valgrind: all
	BUILD=$(BUILD) VALGRIND=1 tests/run unit

# concurrent writers, 50 runs instead of the suite's 12 (tests/cli/concurrent.sh)
soak: all
	BUILD=$(BUILD) CM_SOAK=1 tests/run cli/concurrent

fuzz: ; tests/fuzz/run.sh

bench: all
	BUILD=$(BUILD) bench/run

deps:
	@scripts/deps.sh

# The Debian package, from a clean tree: the .deb and .changes land in ../
deb:
	dpkg-buildpackage -us -uc -b

run: all
	BUILD=$(BUILD) scripts/run-example.sh

# --- install / uninstall ------------------------------------------------
# Installs what `make` built in $(BUILD) (it does not build: run `make`
# first, as your user; then `make install` as root).  A program whose
# sources exist but that is not built is an error.  The example
# configuration (etc/consent-milter.yaml: safe defaults that enforce
# nothing; not the example that `make run` uses) is installed only where
# no configuration exists yet.
INSTALL        ?= install
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d
CONFDIR        := $(SYSCONFDIR)/consent-milter
INST_CONFIG    := etc/consent-milter.yaml
MAN5 := man/consent-milter.yaml.5
MAN8 := man/consent-milter.8 man/consentctl.8 $(wildcard man/consent-web.8) \
	$(wildcard man/consent-policy.8)
INST_PROGRAMS := $(strip $(if $(MILTER_SRC),consent-milter) $(if $(CTL_SRC),consentctl) $(if $(WEB_SRC),consent-web) \
	$(if $(POLICYD_SRC),consent-policy))

install:
	@for p in $(INST_PROGRAMS); do \
		[ -x "$(BUILD)/$$p" ] || { echo "install: $(BUILD)/$$p is not built; run 'make' first" >&2; exit 1; }; \
	done
	@[ -n "$(INST_PROGRAMS)" ] || echo "install: no programs in this tree yet; installing the other files"
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(CONFDIR) $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	for p in $(INST_PROGRAMS); do \
		$(INSTALL) -m 0755 $(BUILD)/$$p $(DESTDIR)$(SBINDIR)/$$p || exit 1; \
	done
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|/usr/sbin/consent-milter|$(SBINDIR)/consent-milter|g' \
	    -e 's|/etc/consent-milter/|$(CONFDIR)/|g' \
		systemd/consent-milter.service > $(DESTDIR)$(SYSTEMDUNITDIR)/consent-milter.service.tmp
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/consent-milter.service.tmp
	mv -f $(DESTDIR)$(SYSTEMDUNITDIR)/consent-milter.service.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/consent-milter.service
	sed -e 's|/usr/sbin/consent-web|$(SBINDIR)/consent-web|g' \
	    -e 's|/etc/consent-milter/|$(CONFDIR)/|g' \
		systemd/consent-web.service > $(DESTDIR)$(SYSTEMDUNITDIR)/consent-web.service.tmp
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/consent-web.service.tmp
	mv -f $(DESTDIR)$(SYSTEMDUNITDIR)/consent-web.service.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/consent-web.service
	sed -e 's|/usr/sbin/consent-policy|$(SBINDIR)/consent-policy|g' \
	    -e 's|/etc/consent-milter/|$(CONFDIR)/|g' \
		systemd/consent-policy.service > $(DESTDIR)$(SYSTEMDUNITDIR)/consent-policy.service.tmp
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/consent-policy.service.tmp
	mv -f $(DESTDIR)$(SYSTEMDUNITDIR)/consent-policy.service.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/consent-policy.service
	sed -e 's|/usr/sbin/consentctl|$(SBINDIR)/consentctl|g' \
	    -e 's|/etc/consent-milter/|$(CONFDIR)/|g' \
		systemd/consent-sync.service > $(DESTDIR)$(SYSTEMDUNITDIR)/consent-sync.service.tmp
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/consent-sync.service.tmp
	mv -f $(DESTDIR)$(SYSTEMDUNITDIR)/consent-sync.service.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/consent-sync.service
	$(INSTALL) -m 0644 systemd/consent-milter.sysusers $(DESTDIR)$(SYSUSERSDIR)/consent-milter.conf
	$(INSTALL) -m 0644 systemd/consent-milter.tmpfiles $(DESTDIR)$(TMPFILESDIR)/consent-milter.conf
	@if [ -e $(DESTDIR)$(CONFDIR)/consent-milter.yaml ]; then \
		echo "install: keeping existing $(DESTDIR)$(CONFDIR)/consent-milter.yaml"; \
	else \
		echo "$(INSTALL) -m 0644 $(INST_CONFIG) $(DESTDIR)$(CONFDIR)/consent-milter.yaml"; \
		$(INSTALL) -m 0644 $(INST_CONFIG) $(DESTDIR)$(CONFDIR)/consent-milter.yaml || exit 1; \
	fi

# Removes what install put in place.  The configuration is removed only
# if it is still unmodified; the index is never touched.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/consent-milter $(DESTDIR)$(SBINDIR)/consentctl $(DESTDIR)$(SBINDIR)/consent-web \
	      $(DESTDIR)$(SBINDIR)/consent-policy
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5))) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8)))
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/consent-milter.service $(DESTDIR)$(SYSTEMDUNITDIR)/consent-web.service $(DESTDIR)$(SYSTEMDUNITDIR)/consent-sync.service \
	      $(DESTDIR)$(SYSTEMDUNITDIR)/consent-policy.service \
	      $(DESTDIR)$(SYSUSERSDIR)/consent-milter.conf $(DESTDIR)$(TMPFILESDIR)/consent-milter.conf
	@f=$(DESTDIR)$(CONFDIR)/consent-milter.yaml; \
	if [ -e "$$f" ]; then \
		if cmp -s $(INST_CONFIG) "$$f"; then \
			echo "rm -f $$f"; rm -f "$$f"; \
			rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true; \
		else \
			echo "uninstall: keeping modified $$f"; \
		fi; \
	fi

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
