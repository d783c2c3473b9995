# FarmLokal dev commands. Every target that runs Python first makes sure the tools exist
# (scripts/bootstrap.sh: apt packages, uv, the locked .venv) and the generated code is fresh.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY      := .venv/bin/python
PYTEST  := .venv/bin/pytest
RUFF    := .venv/bin/ruff
MYPY    := .venv/bin/mypy
# Packages mypy checks: every top-level Python package that exists in the tree.
MYPY_TARGETS = $(wildcard farmlokal_common catalog_service webhook_service auth_service devstack sandbox bench)
S ?=
N ?= 40
PYTEST_ARGS ?=
SEED_ARGS ?=

.PHONY: help deps gen up down status logs seed migrate test lint fmt bench bench-catalog bench-peer check-compose env-example openapi openapi-check

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## install what is missing: MariaDB, Redis, libmariadb-dev, uv, .venv (uv sync --frozen)
	@scripts/bootstrap.sh

gen: deps ## generate gRPC stubs and the Envoy descriptor into build/gen
	@$(PY) devstack/codegen.py

up: gen docs-assets ## start MariaDB, Redis, sandbox, services, Envoy in the background; seed; wait for /health
	@$(PY) -m devstack up

down: ## stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "no .venv: nothing was started"; fi

status: ## table of components: pid, port, alive, healthy
	@$(PY) -m devstack status

logs: ## tail every log (make logs S=catalog for one, N=200 for more lines)
	@$(PY) -m devstack logs $(S) -n $(N)

seed: gen ## seed the catalog (SEED_PRODUCTS, default 1,000,000; SEED_ARGS=--reset to start over)
	@$(PY) -m devstack seed $(SEED_ARGS)

migrate: gen ## migrate every service's schema (MariaDB must be up)
	@$(PY) -m devstack migrate

.PHONY: replica-pause replica-resume

replica-pause: ## stop the MariaDB replica's SQL thread (FARMLOKAL_MARIADB_REPLICA=1 make up): lag on purpose
	@$(PY) -m devstack replica-pause

replica-resume: ## start the MariaDB replica's SQL thread again; it catches up on its own
	@$(PY) -m devstack replica-resume

# Coverage of make test, the service processes the fixtures start included (pyproject [tool.coverage]).
# The floor is the figure measured when coverage was introduced (91%, 2026-12-02): it may only rise.
COVERAGE_FLOOR ?= 90
COVERAGE_ARGS ?= --cov --cov-report=term:skip-covered --cov-report=xml:build/coverage/coverage.xml --cov-fail-under=$(COVERAGE_FLOOR)

test: gen docs-assets ## the whole test suite but tests/interop (starts its own MariaDB, Redis, Envoy; no `make up` needed); coverage with a floor
	@mkdir -p build/coverage && rm -f build/coverage/.coverage*
	@rc=0; COVERAGE_FILE=$(CURDIR)/build/coverage/.coverage $(PYTEST) --ignore=tests/interop $(COVERAGE_ARGS) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure" >&2; fi; \
	exit $$rc

lint: gen ## ruff check, ruff format --check, mypy, buf lint
	$(RUFF) check .
	$(RUFF) format --check .
	$(MYPY) $(MYPY_TARGETS)
	@bash scripts/buf-lint.sh

fmt: deps ## ruff format and autofix
	$(RUFF) format .
	$(RUFF) check --fix .

env-example: deps ## regenerate .env.example from the settings classes
	@$(PY) -m devstack env-example > .env.example

openapi: gen ## regenerate docs/openapi/farmlokal.swagger.json from the annotated protos
	@$(PY) -m devstack.openapi

openapi-check: gen ## fail when docs/openapi is out of date with the protos
	@$(PY) -m devstack.openapi --check

check-compose: ## validate docker-compose.yml without a Docker daemon
	@scripts/check-compose.sh

bench: gen ## the benchmark report (python -m bench; BENCH_ARGS=--quick for a smoke run)
	$(PY) -m bench $(BENCH_ARGS)

bench-catalog: gen ## the catalog scenarios only (B1-B5: listing, search, deep pages, seed)
	@$(MAKE) --no-print-directory bench BENCH_ARGS="--only B1,B2,B3,B4,B5 $(BENCH_ARGS)"

bench-peer: gen ## ours beside the Node reference, with CPU per request (B1, B2, B8, B9)
	@$(MAKE) --no-print-directory bench BENCH_ARGS="--only B1,B2,B8,B9 $(BENCH_ARGS)"

.PHONY: test-faults fuzz loadtest test-interop

FUZZ_MAX_EXAMPLES ?= 300
LOADTEST_ARGS ?=

test-interop: gen docs-assets ## against a real Keycloak (fetched once with Maven into ~/.cache/farmlokal, needs Java 21+): tests/interop
	@$(PYTEST) tests/interop $(PYTEST_ARGS)

test-faults: gen ## fault injection with real processes: Redis killed, MySQL down/slow, supplier down (tests/faults)
	@$(PYTEST) -m faults tests/faults $(PYTEST_ARGS)

fuzz: gen ## schemathesis fuzzing of the OpenAPI spec through Envoy; FUZZ_MAX_EXAMPLES per route (default 300)
	@FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) $(PYTEST) -m fuzz tests/fuzz --timeout 3600 $(PYTEST_ARGS)

loadtest: gen ## ghz scenarios (tests/load/ghz) + REST mix through Envoy against `make up` (LOADTEST_ARGS=--target SPEC | --own-stack)
	$(PY) -m bench.loadtest $(LOADTEST_ARGS)

.PHONY: docs-assets check-rules test-observability

docs-assets: ## vendor Swagger UI (pinned, scripts/docs-assets) and the OpenAPI spec into build/docs for /docs
	@scripts/docs-assets.sh

check-rules: ## promtool check config/rules and promtool test rules (deploy/prometheus)
	@scripts/check-rules.sh

test-observability: gen docs-assets ## /docs in headless Chromium, a real Prometheus on a real stack (tests/observability)
	@$(PYTEST) tests/observability $(PYTEST_ARGS)

.PHONY: k8s-edge-config k8s-render k8s-check test-distributed

# Helm 3, pinned, built from the Go module proxy into build/tools like the other Go tools.
HELM_VERSION := v3.22.0
HELM := build/tools/helm-$(HELM_VERSION)/helm
CHART := deploy/helm/farmlokal
K8S_VERSIONS := 1.30.0 1.34.0
KUBERNETES_VALIDATE := .venv/bin/kubernetes-validate

$(HELM):
	@echo "installing helm $(HELM_VERSION) into $(@D) (go install)" >&2
	@GOBIN=$(CURDIR)/$(@D) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

k8s-edge-config: gen ## render the chart's edge config (deploy/helm/farmlokal/files/edge) with farmlokal_edge
	@$(PY) deploy/helm/edge_config.py

k8s-render: ## print the chart's manifests for the default values (helm template); nothing else on stdout
	@$(MAKE) --no-print-directory gen $(HELM) >&2
	@$(PY) deploy/helm/edge_config.py >&2
	@$(HELM) template farmlokal $(CHART) --kube-version 1.34.0

k8s-check: gen $(HELM) ## helm lint; kubernetes-validate --strict, default and production values, Kubernetes 1.30 and 1.34; tests/k8s
	@$(PY) deploy/helm/edge_config.py --check
	@$(HELM) lint --strict $(CHART)
	@$(HELM) lint --strict $(CHART) -f $(CHART)/values-production.yaml
	@for values in values.yaml values-production.yaml; do for version in $(K8S_VERSIONS); do \
		$(HELM) template farmlokal $(CHART) --kube-version $$version -f $(CHART)/$$values \
			| $(KUBERNETES_VALIDATE) --strict --quiet -k $$version - || exit 1; \
		echo "k8s-check: $$values valid for Kubernetes $$version (kubernetes-validate --strict)"; \
	done; done
	@HELM=$(CURDIR)/$(HELM) $(PYTEST) -m k8s tests/k8s $(PYTEST_ARGS)

test-distributed: gen ## one service host of two cut off under load: hosts in network namespaces (root), tests/distributed
	@$(PYTEST) -m distributed tests/distributed -s $(PYTEST_ARGS)
