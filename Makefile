# disputed — build, run, test, install.
#
#   make run      build and start the daemon on config/dev.toml (state under ./.state/)
#   make test     the whole suite: Swift unit tests and end-to-end tests of the real binaries
#   make install  install binaries, configuration, calendars, templates and units
#                 (honours DESTDIR and PREFIX)

SWIFT      ?= swift
PYTHON     ?= python3
PREFIX     ?= /usr
DESTDIR    ?=
SYSCONFDIR ?= /etc
BINDIR      = $(PREFIX)/bin
DATADIR     = $(PREFIX)/share/disputed
UNITDIR     = $(PREFIX)/lib/systemd/system
SYSUSERSDIR = $(PREFIX)/lib/sysusers.d
TMPFILESDIR = $(PREFIX)/lib/tmpfiles.d

# apt-get needs root; use sudo when we are not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

DEBUG_BIN   = .build/debug
RELEASE_BIN = .build/release


.PHONY: demo fuzz chaos
.PHONY: all build release run test deps test-deps unit-test e2e-test install install-files docs clean bench bench-deps test-systemd

all: build

# libsystemd-dev provides the headers and pkg-config file the CSystemd module needs.
deps:
	@pkg-config --exists libsystemd 2>/dev/null || { \
	  echo "Installing libsystemd-dev (needed to build against libsystemd)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq libsystemd-dev pkg-config; }

# Python tools the end-to-end suite uses.
test-deps: deps
	@command -v msmtp >/dev/null 2>&1 || { echo "Installing msmtp (the relay test's sendmail)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq msmtp; }
	@$(PYTHON) -c "import pytest, numpy, aiosmtpd, holidays; assert holidays.__version__ == '0.109'" 2>/dev/null || { \
	  echo "Installing the Python test tools (tests/requirements.txt)"; $(PYTHON) -m pip install -q -r tests/requirements.txt; }

build: deps
	$(SWIFT) build

# Release binaries carry the Swift runtime inside (--static-swift-stdlib): what
# make install puts in /usr/bin needs libc, libstdc++, libsqlite3 and libsystemd
# only, not the toolchain under /opt/swift (which a dynamic build would name in
# its RUNPATH). Measured 3-5 % more opens/s too: no PLT hop into the runtime.
RELEASE_FLAGS = -c release --static-swift-stdlib

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

run: build
	$(DEBUG_BIN)/disputed --config config/dev.toml

# The whole workflow on a simulated clock, for a newcomer.
demo: build
	./scripts/demo.sh

# Crash consistency: 50 SIGKILLs of the real daemon under load, then every guarantee checked;
# then 20 more while retention removes closed disputes (90 days after they close).
chaos: test-deps build
	DISPUTED_BIN_DIR=$(CURDIR)/$(DEBUG_BIN) $(PYTHON) tests/chaos.py --kills $${CHAOS_KILLS:-50}
	DISPUTED_BIN_DIR=$(CURDIR)/$(DEBUG_BIN) $(PYTHON) tests/chaos.py --kills 20 --retention-days 90

# libFuzzer on the request decoder and the MIME header encoder (FUZZ_SECONDS each, default 300).
fuzz:
	./Fuzz/run.sh

unit-test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

e2e-test: test-deps
	$(SWIFT) build
	DISPUTED_BIN_DIR=$(CURDIR)/$(DEBUG_BIN) $(PYTHON) -m pytest -q tests

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	DISPUTED_BIN_DIR=$(CURDIR)/$(DEBUG_BIN) $(PYTHON) -m pytest -q tests

install: release
	$(MAKE) install-files BINSRC=$(RELEASE_BIN)

# Man pages (ArgumentParser's generate-manual tool) and shell completions, from built binaries.
BINSRC ?= $(RELEASE_BIN)
DOCS = .build/docs
docs:
	$(SWIFT) build --product generate-manual >/dev/null
	rm -rf $(DOCS) && mkdir -p $(DOCS)/man $(DOCS)/completions
	"$$($(SWIFT) build --show-bin-path)/generate-manual" $(BINSRC)/disputectl --multi-page -o $(DOCS)/man
	"$$($(SWIFT) build --show-bin-path)/generate-manual" $(BINSRC)/disputed -o $(DOCS)/man
	$(BINSRC)/disputectl --generate-completion-script bash > $(DOCS)/completions/disputectl.bash
	$(BINSRC)/disputectl --generate-completion-script zsh > $(DOCS)/completions/_disputectl
	$(BINSRC)/disputectl --generate-completion-script fish > $(DOCS)/completions/disputectl.fish

# The copying part of install, from already built binaries (the install test uses the debug build).
install-files: docs
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINSRC)/disputed $(BINSRC)/disputectl $(DESTDIR)$(BINDIR)/
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/disputed $(DESTDIR)$(SYSCONFDIR)/disputed/calendars
	# An existing configuration is kept; the shipped one lands next to it as .dist.
	if [ -e $(DESTDIR)$(SYSCONFDIR)/disputed/disputed.toml ]; then \
	  sed 's|/usr/share/disputed/|$(DATADIR)/|' config/disputed.toml > $(DESTDIR)$(SYSCONFDIR)/disputed/disputed.toml.dist; \
	  chmod 0640 $(DESTDIR)$(SYSCONFDIR)/disputed/disputed.toml.dist; \
	else \
	  sed 's|/usr/share/disputed/|$(DATADIR)/|' config/disputed.toml > $(DESTDIR)$(SYSCONFDIR)/disputed/disputed.toml; \
	  chmod 0640 $(DESTDIR)$(SYSCONFDIR)/disputed/disputed.toml; \
	fi
	for f in config/calendars/*.toml; do [ -e "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(SYSCONFDIR)/disputed/calendars/ || true; done
	install -d $(DESTDIR)$(DATADIR)/Notifications
	if [ -d Notifications ]; then cp -R Notifications/. $(DESTDIR)$(DATADIR)/Notifications/; fi
	find $(DESTDIR)$(DATADIR)/Notifications -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
	if ls systemd/*.service >/dev/null 2>&1; then \
	  install -d $(DESTDIR)$(UNITDIR); \
	  for f in systemd/*.service systemd/*.socket systemd/*.path systemd/*.timer; do \
	    [ -e "$$f" ] || continue; \
	    sed -e 's|/usr/bin/|$(BINDIR)/|g' -e 's|/usr/libexec/|$(PREFIX)/libexec/|g' "$$f" > $(DESTDIR)$(UNITDIR)/$$(basename "$$f"); \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename "$$f"); \
	  done; \
	fi
	install -D -m 0755 scripts/disputed-relay $(DESTDIR)$(PREFIX)/libexec/disputed/disputed-relay
	if [ -e systemd/disputed.sysusers ]; then install -D -m 0644 systemd/disputed.sysusers $(DESTDIR)$(SYSUSERSDIR)/disputed.conf; fi
	if [ -e systemd/disputed.tmpfiles ]; then install -D -m 0644 systemd/disputed.tmpfiles $(DESTDIR)$(TMPFILESDIR)/disputed.conf; fi
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/disputed/README.md
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 $(DOCS)/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -D -m 0644 $(DOCS)/completions/disputectl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/disputectl
	install -D -m 0644 $(DOCS)/completions/_disputectl $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_disputectl
	install -D -m 0644 $(DOCS)/completions/disputectl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/disputectl.fish

# The installed daemon under a real systemd (PID 1 of a Debian 12 container):
# socket activation, readiness, the sandbox in force, reload, a watchdog restart,
# a clean stop. Needs root; the first run fetches a Debian tree with debootstrap
# (kept under .build/nspawn/). Not part of make test.
test-systemd: release test-deps
	@command -v systemd-nspawn >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || { \
	  echo "Installing systemd-container and debootstrap"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq systemd-container debootstrap; }
	$(PYTHON) tests/systemd_boot.py

# A C compiler for the small preload libraries of the benchmarks and tests: cc
# when the machine has one, else the clang that comes with the Swift toolchain.
CC := $(shell command -v cc || command -v clang)

# Benchmarks are a separate package (Benchmarks/), built in release mode only here.
bench-deps: deps
	@$(PYTHON) -c "import numpy" 2>/dev/null || { echo "Installing numpy"; $(PYTHON) -m pip install -q numpy; }

bench: bench-deps
	$(SWIFT) build $(RELEASE_FLAGS)
	cd Benchmarks && $(SWIFT) build -c release
	$(CC) -O2 -shared -fPIC -o Benchmarks/.build/libmalloc_counter.so Benchmarks/malloc-counter/malloc_counter.c
	$(CC) -O2 -shared -fPIC -o Benchmarks/.build/libflush_delay.so Benchmarks/flush-delay/flush_delay.c
	$(PYTHON) Benchmarks/run.py

clean:
	rm -rf .build .state bench-results.json
