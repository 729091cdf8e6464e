# mod_ptech -- build, test, demo, install.
#
# Public targets (deps first, then a sub-make that computes flags once deps exist):
#   make / make all      build/mod_ptech.so and build/ptechctl
#   make test            unit + integration tests        (SANITIZE=1: ASan/UBSan into build/asan)
#   make demo            the tool and its demo LMS on http://127.0.0.1:$(PORT)/ptech/demo
#   make bench           benchmarks (tests/bench/REPORT.md)
#   make install         module, ptechctl and the Apache conf files
#   make deps            install the missing Debian packages (apt-get as root, else print it)
#                        and the browser tests' npm packages (npm ci in tests/browser)
SHELL := /bin/bash
.DEFAULT_GOAL := all

PORT ?= 8080
PTECH_VAR ?= ./var
PYTHON ?= /usr/bin/python3
SANITIZE ?=
ifeq ($(SANITIZE),1)
B := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B := build
SANFLAGS :=
endif

BUILD_PKGS := gcc make pkg-config apache2 apache2-dev libapr1-dev libaprutil1-dev libxml2-dev \
  libssl-dev libsqlite3-dev libjansson-dev libcjose-dev libcurl4-openssl-dev libcmocka-dev \
  zlib1g-dev sqlite3 openssl
# Browser tests: Debian's chromium driven by playwright-core from npm (tests/browser).
TEST_PKGS := python3 python3-pytest python3-requests python3-oauthlib python3-jwt \
  python3-cryptography chromium nodejs npm
NPM_DIRS := tests/browser
BENCH_PKGS := wrk util-linux procps
SUB := $(MAKE) --no-print-directory PTECH_STAGE=1

.PHONY: all test demo bench install clean deps deps-bench unit integration
all:
	@$(MAKE) --no-print-directory deps
	@$(SUB) build-all
test:
	@$(MAKE) --no-print-directory deps
	@$(SUB) build-all build-units
	@$(SUB) run-tests
demo:
	@$(MAKE) --no-print-directory deps
	@$(SUB) build-all
	@$(SUB) run-demo
bench:
	@$(MAKE) --no-print-directory deps deps-bench
	@$(SUB) build-all
	@$(SUB) run-bench
install:
	@$(MAKE) --no-print-directory deps
	@$(SUB) build-all
	@$(SUB) run-install
unit:
	@$(SUB) build-all build-units
	@$(SUB) run-units
integration:
	@$(SUB) build-all
	@$(SUB) run-integration

# Installs only what is missing; apt-get update only when something is; npm ci only when
# node_modules is missing or package.json / package-lock.json changed.
deps:
	@PKGS="$(BUILD_PKGS) $(TEST_PKGS) $(EXTRA_PKGS)" tools/deps.sh
	@tools/deps-npm.sh $(NPM_DIRS)
deps-bench:
	@PKGS="$(BENCH_PKGS)" tools/deps.sh

clean:
	rm -rf build

ifeq ($(PTECH_STAGE),1)
APXS := $(shell command -v apxs 2>/dev/null || command -v apxs2)
HTTPD_INC := $(shell $(APXS) -q INCLUDEDIR)
LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR)
SYSCONFDIR := $(shell $(APXS) -q SYSCONFDIR)
APXS_CFLAGS := $(shell $(APXS) -q CFLAGS)
LIB_PKGS := libxml-2.0 libssl libcrypto sqlite3 jansson cjose libcurl zlib
PKG_CFLAGS := $(shell pkg-config --cflags apr-1 apr-util-1 $(LIB_PKGS))
PKG_LIBS := $(shell pkg-config --libs $(LIB_PKGS))
APR_LIBS := $(shell pkg-config --libs apr-1 apr-util-1)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)
endif

CC ?= gcc
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
CFLAGS_ALL = -std=gnu99 -fPIC -O2 -g $(WARN) $(SANFLAGS) $(PKG_CFLAGS) -I$(B)/gen -Ilti
LDFLAGS_ALL = $(SANFLAGS)

LTI_SRC := $(wildcard lti/*.c)
LTI_OBJ := $(patsubst lti/%.c,$(B)/lti/%.o,$(LTI_SRC))
MOD_SRC := $(filter-out mod_ptech/ptechctl.c,$(wildcard mod_ptech/*.c))
MOD_OBJ := $(patsubst mod_ptech/%.c,$(B)/mod/%.o,$(MOD_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

.PHONY: build-all build-units run-tests run-units run-integration run-demo run-bench run-install
build-all: $(B)/mod_ptech.so $(B)/ptechctl
build-units: $(UNIT_BIN)

$(B)/gen/catalog_rng.h: conf/catalog.rng tools/embed.sh
	@mkdir -p $(@D)
	tools/embed.sh ptech_catalog_rng < $< > $@

# The UI's message catalogs (lti_messages.c), one string per language.
$(B)/gen/messages_json.h: $(wildcard conf/messages/*.json) tools/embed.sh
	@mkdir -p $(@D)
	@rm -f $@.tmp
	@for l in fr ar en; do tools/embed.sh ptech_messages_$$l < conf/messages/$$l.json >> $@.tmp; done
	@mv $@.tmp $@

$(B)/lti/%.o: lti/%.c $(wildcard lti/*.h) $(B)/gen/catalog_rng.h $(B)/gen/messages_json.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# The glue sees httpd headers; liblti never does (tests/unit/test_layering.sh checks).
$(B)/mod/%.o: mod_ptech/%.c $(wildcard mod_ptech/*.h) $(wildcard lti/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -I$(HTTPD_INC) -Imod_ptech -c -o $@ $<

$(B)/liblti.a: $(LTI_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Only ptech_module is exported (mod_ptech/ptech.map); httpd symbols resolve at load time.
$(B)/mod_ptech.so: $(MOD_OBJ) $(B)/liblti.a mod_ptech/ptech.map
	$(CC) -shared $(LDFLAGS_ALL) -Wl,--no-as-needed -o $@ $(MOD_OBJ) $(B)/liblti.a $(PKG_LIBS) \
	    -Wl,--version-script=mod_ptech/ptech.map -Wl,--no-as-needed

$(B)/ptechctl: mod_ptech/ptechctl.c $(B)/liblti.a $(B)/mod/ptech_parse.o $(wildcard lti/*.h)
	$(CC) $(CFLAGS_ALL) -Imod_ptech $(LDFLAGS_ALL) -o $@ $< $(B)/mod/ptech_parse.o \
	    $(B)/liblti.a $(PKG_LIBS) $(APR_LIBS)

$(B)/tests/%: tests/unit/%.c $(B)/liblti.a $(B)/mod/ptech_parse.o $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Imod_ptech -Itests/unit $(LDFLAGS_ALL) -o $@ $< \
	    $(B)/mod/ptech_parse.o $(B)/liblti.a $(PKG_LIBS) $(APR_LIBS) $(CMOCKA_LIBS)

run-tests: run-units run-integration

run-units:
	@PTECH_BUILD=$(B) tools/run-units.sh $(UNIT_BIN)

# Under SANITIZE=1 the integration tests run under both MPMs too, with libasan preloaded.
run-integration:
	cd tests/integration && PTECH_BUILD=$(abspath $(B)) PTECH_SANITIZE=$(SANITIZE) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) .

run-demo:
	@PORT=$(PORT) PTECH_VAR=$(PTECH_VAR) PTECH_BUILD=$(B) tools/demo.sh

run-bench:
	@PTECH_BUILD=$(abspath $(B)) PYTHON=$(PYTHON) tests/bench/run.sh

run-install:
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)/usr/local/bin
	install -m 644 $(B)/mod_ptech.so $(DESTDIR)$(LIBEXECDIR)/mod_ptech.so
	install -m 755 $(B)/ptechctl $(DESTDIR)/usr/local/bin/ptechctl
	@if [ -d $(DESTDIR)$(SYSCONFDIR)/mods-available ]; then \
	    install -m 644 conf/ptech.load $(DESTDIR)$(SYSCONFDIR)/mods-available/ptech.load; \
	    install -m 644 conf/ptech.conf $(DESTDIR)$(SYSCONFDIR)/mods-available/ptech.conf; \
	    echo "installed; enable with: a2enmod ptech && systemctl reload apache2"; \
	else \
	    install -d $(DESTDIR)$(SYSCONFDIR)/conf.d; \
	    cat conf/ptech.load conf/ptech.conf > $(DESTDIR)$(SYSCONFDIR)/conf.d/ptech.conf; \
	fi
	install -d -m 755 $(DESTDIR)/usr/local/share/mod_ptech
	install -m 644 conf/catalog.xml conf/catalog.rng $(DESTDIR)/usr/local/share/mod_ptech/
