# mlops.mlflow: day-to-day commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
ANSIBLE_ENV := ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build/collections ANSIBLE_ROLES_PATH=$(CURDIR)/roles
INVENTORY   ?= inventories/local
# Base image of the MLflow server image. `auto`: python:3.11-slim when it can be pulled, else a
# python image built here from Debian packages (scripts/build-images.sh python), for machines
# that reach no container registry.
MLFLOW_BASE_IMAGE ?= auto
MLFLOW_CONTAINER  ?= mlflow-server
# Molecule scenarios in the order `make test` starts them (longest first: two run side by side).
SHELL_SCRIPTS := scripts/*.sh molecule/shared/*.sh tests/collection/*.sh tests/compat/*.sh images/*/*.sh benchmarks/*.sh benchmarks/compose/*.sh .ci/run
SCENARIOS ?= upgrade production multihost sqlite_migration cloud mlflow_server minio postgres docker nginx_proxy
# How many scenarios run side by side (each has its own instances and network).
MOLECULE_JOBS ?= 2
ANSIBLE_ARGS ?=
# Mitogen (PyPI `mitogen`, pinned in requirements.txt): ansible.cfg makes it the default strategy
# of every ansible-playbook run from this directory (strategy_plugins/mlops_mitogen.py: Mitogen for
# ssh and docker hosts, Ansible's own `local` connection, Ansible's linear when Mitogen is
# missing). `make local` also takes the `local` connection to Mitogen (MLOPS_MITOGEN_LOCAL=1); `make
# molecule` passes mlops_mitogen to Molecule, which writes its own ansible.cfg. MITOGEN=0 runs
# Ansible's linear strategy everywhere (benchmarks/README.md: the no-op run 0.48x with Mitogen).
MITOGEN ?= 1
MITOGEN_ENV = $(if $(filter 1,$(MITOGEN)),ANSIBLE_STRATEGY=mlops_mitogen ANSIBLE_STRATEGY_PLUGINS=$(CURDIR)/strategy_plugins MLOPS_MITOGEN_LOCAL=1,ANSIBLE_STRATEGY=linear)
MITOGEN_TEST_ENV = $(if $(filter 1,$(MITOGEN)),ANSIBLE_STRATEGY=mlops_mitogen ANSIBLE_STRATEGY_PLUGINS=$(CURDIR)/strategy_plugins,ANSIBLE_STRATEGY=linear)
# `make bench` sizes (benchmarks/README.md).
BENCH_N               ?= 1 4 16 32
BENCH_RUNS_PER_CLIENT ?= 4
BENCH_ARTIFACT_MB     ?= 1024
BENCH_SEARCH_RUNS     ?= 10000
BENCH_PARTS           ?= deploy writes search artifacts

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	@# libpass replaces passlib under the same import name: drop an older passlib first
	$(VENV)/bin/pip uninstall -y -q passlib 2>/dev/null || true
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt requirements.txt $(VENV)/.installed
	$(VENV)/bin/pip install -q -r requirements-test.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv for the playbooks

.PHONY: prereqs
prereqs: ## Install host packages (Docker engine, debootstrap) and start Docker if none answers
	@scripts/install-prereqs.sh
	@scripts/ensure-docker.sh

.PHONY: images
images: prereqs ## Build the local images the tests use (images/*, from Debian packages; reused by content hash)
	@scripts/build-images.sh $(notdir $(patsubst %/,%,$(wildcard images/*/))) | grep -v -i -E 'deprecat|buildx|^ *$$' || true

.PHONY: collection-link
collection-link:
	@scripts/link-collection.sh

# What `make local` needs on the machine: a Docker engine (started, or installed as root), not
# the test suite's host packages (prereqs), so that a user in the docker group can run it.
.PHONY: docker-engine
docker-engine: ## Start a Docker engine if none answers (installs Debian's docker.io when run as root)
	@scripts/ensure-docker.sh

.PHONY: local
local: venv docker-engine collection-link ## Deploy the local stage (MLflow + SQLite in a container) and print its URL
	@base="$(MLFLOW_BASE_IMAGE)"; \
	if [[ "$$base" == auto ]]; then \
	  if docker image inspect python:3.11-slim >/dev/null 2>&1 || docker pull -q python:3.11-slim >/dev/null 2>&1; then \
	    base=python:3.11-slim; \
	  else \
	    echo "python:3.11-slim cannot be pulled here: building a Python base image from Debian packages"; \
	    scripts/build-images.sh python | grep -v -i -E 'deprecat|buildx|^ *$$' || true; \
	    base=mlops/python:local; \
	  fi; \
	fi; \
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	source $(VENV)/bin/activate && $(ANSIBLE_ENV) $(MITOGEN_ENV) ANSIBLE_FORCE_COLOR=$$([[ -t 1 ]] && echo 1 || echo 0) \
	  ansible-playbook playbooks/local.yml -i $(INVENTORY) -e mlflow_server_base_image=$$base $(ANSIBLE_ARGS) | tee "$$log"; \
	rc=$${PIPESTATUS[0]}; ((rc == 0)) || exit $$rc; \
	url=$$(sed 's/\x1b\[[0-9;]*m//g' "$$log" | grep -o 'MLflow is up at [^" ]*' | tail -n 1 | cut -d' ' -f5); \
	echo; echo "MLflow is up at $$url"; \
	echo "Log runs from Python on this machine with:"; \
	echo "  export MLFLOW_TRACKING_URI=$$url"

.PHONY: build
build: venv collection-link ## Rebuild the MLflow server image if its inputs changed
	source $(VENV)/bin/activate && $(ANSIBLE_ENV) ansible-playbook playbooks/local.yml -i $(INVENTORY) --tags mlflow_server_build $(ANSIBLE_ARGS)

.PHONY: stop
stop: ## Stop the local MLflow container (data is kept)
	docker stop $(MLFLOW_CONTAINER)

.PHONY: run
run: ## Start the stopped local MLflow container again
	docker start $(MLFLOW_CONTAINER)

.PHONY: logs
logs: ## Follow the local MLflow container's logs
	docker logs -f --tail 100 $(MLFLOW_CONTAINER)

.PHONY: status
status: ## Show the local MLflow container and its health
	@docker ps -a --filter name=^/$(MLFLOW_CONTAINER)$$ --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}'

# ---------------------------------------------------------------- tests
.PHONY: test-venv
test-venv: $(VENV)/.installed-test

.PHONY: lint
lint: test-venv collection-link ## yamllint, shellcheck, ansible-lint (production profile), changelog fragments, role docs/specs in sync, doc links and make targets
	source $(VENV)/bin/activate && yamllint -s .
	shellcheck $(SHELL_SCRIPTS)
	@# Piping into head under pipefail fails when the writer is still writing as head exits (SIGPIPE /
	@# BrokenPipeError): make min-core failed CI this way on 2026-12-01. Read the whole output.
	@if grep -nE '[|] *head\b' $(SHELL_SCRIPTS) Makefile; then echo "lint: pipe into head (above) can fail under pipefail; use sed -n 1p or awk 'NR == 1'" >&2; exit 1; fi
	source $(VENV)/bin/activate && $(ANSIBLE_ENV) ansible-lint --profile production
	source $(VENV)/bin/activate && antsibull-changelog lint
	$(PY) tests/lint/check_roles.py
	$(PY) scripts/role-docs.py --check
	$(PY) tests/lint/check_docs.py

.PHONY: unit
unit: test-venv collection-link ## Unit tests of the plugins
	source $(VENV)/bin/activate && pytest -q tests/unit

.PHONY: integration
integration: test-venv collection-link ## Bad input: every role refuses bad values in preflight, before any change; the production wiring each host gets
	source $(VENV)/bin/activate && pytest -q tests/integration

.PHONY: min-core
min-core: collection-link ## The oldest ansible-core claimed (2.17): playbook syntax, role preflights, artifact_sync, the checks action
	tests/compat/min_core.sh

.PHONY: collection
collection: test-venv ## Build the collection tarball (scripts/build-collection.sh), check what it ships, galaxy-importer, use it by FQCN
	source $(VENV)/bin/activate && tests/collection/check_build.sh

.PHONY: sanity
sanity: test-venv ## ansible-test sanity on a copy of the collection
	source $(VENV)/bin/activate && tests/collection/sanity.sh

.PHONY: molecule
molecule: test-venv prereqs collection-link ## Molecule scenarios (all, or SCENARIO=name; MOLECULE_JOBS side by side)
	@source $(VENV)/bin/activate && $(MITOGEN_TEST_ENV) scripts/run-molecule.sh -j $(MOLECULE_JOBS) $(if $(SCENARIO),$(SCENARIO),$(SCENARIOS))

.PHONY: test
test: ## Everything: lint, unit and bad-input tests (also on the oldest ansible-core), collection build, sanity, Molecule scenarios
	@start=$$(date +%s); mkdir -p .build; rm -f .build/static.rc; \
	$(MAKE) --no-print-directory prereqs test-venv collection-link images || exit $$?; \
	echo "=== lint, unit, integration, min-core, collection, sanity: beside the Molecule scenarios (log: .build/static.log)"; \
	( nice -n 15 scripts/client-venvs.sh > .build/clients.log 2>&1; \
	  nice -n 15 $(MAKE) --no-print-directory lint unit integration min-core collection sanity > .build/static.log 2>&1; \
	  echo $$? > .build/static.rc ) & static=$$!; \
	$(MAKE) --no-print-directory molecule; rc=$$?; \
	wait $$static; src=$$(cat .build/static.rc 2>/dev/null || echo 1); \
	echo "=== lint, unit, integration, min-core, collection, sanity (.build/static.log)"; cat .build/static.log; \
	echo "=== static checks $$( [[ $$src == 0 ]] && echo passed || echo FAILED ), Molecule $$( [[ $$rc == 0 ]] && echo passed || echo FAILED )"; \
	[[ $$src == 0 ]] || rc=1; \
	echo "make test took $$(( ($$(date +%s) - start) / 60 ))m$$(( ($$(date +%s) - start) % 60 ))s (exit $$rc)"; \
	exit $$rc

.PHONY: bench
bench: test-venv prereqs collection-link ## Benchmarks: deployment vs compose, writes, artifacts, search (BENCH_N, BENCH_ARTIFACT_MB, BENCH_SEARCH_RUNS)
	@start=$$(date +%s); BENCH_N="$(BENCH_N)" BENCH_RUNS_PER_CLIENT="$(BENCH_RUNS_PER_CLIENT)" \
	  BENCH_ARTIFACT_MB="$(BENCH_ARTIFACT_MB)" BENCH_SEARCH_RUNS="$(BENCH_SEARCH_RUNS)" BENCH_PARTS="$(BENCH_PARTS)" \
	  benchmarks/run-bench.sh; rc=$$?; \
	echo "make bench took $$(( ($$(date +%s) - start) / 60 ))m$$(( ($$(date +%s) - start) % 60 ))s (exit $$rc)"; exit $$rc

.PHONY: bench-migration
bench-migration: ## Benchmark: schema-first migration vs pgloader's default mode (BENCH_ARGS="--runs 50")
	benchmarks/run-migration-bench.sh $(BENCH_ARGS)

.PHONY: bench-upgrade
bench-upgrade: ## Benchmark: upgrade downtime, backup and restore of a 1,000-run / 1M-metric store (BENCH_ARGS="--runs 100")
	benchmarks/run-migration-bench.sh upgrade $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove the virtualenv and build output (images are kept)
	rm -rf $(VENV) .build
