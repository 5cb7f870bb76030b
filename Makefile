# Cannes lakehouse: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster
PIP_FLAGS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: ui-postgres celery-workers celery-workers-stop bench-s3 bench-incremental test-scale
.PHONY: run run-real test install lock ui simulate bench bench-city bench-trees bench-roads bench-waste bench-admin ingest-mqtt ingest-nats clean lint

# The environment is the lock file (pip-compile of pyproject.toml; `make lock` rewrites it):
# requirements-dev.lock = runtime + dev (tests, import-linter), requirements.lock = runtime only.
LOCK := requirements-dev.lock

$(BIN)/.installed: pyproject.toml $(LOCK)
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, the CPU build (the lock pins torch==2.13.0+cpu; a plain resolution could pull a CUDA build)
	$(BIN)/pip install -q $(PIP_FLAGS) "torch==2.13.0" || $(BIN)/pip install -q --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
	$(BIN)/pip install -q $(PIP_FLAGS) -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/python -c "from models.routing.ruin_recreate import warm_up; warm_up()"  # numba cache of the routing kernels, built once
	touch $@

## make lock: re-resolve the lock files from pyproject.toml (torch CPU from /opt/wheels; check no nvidia-* appears)
lock:
	$(BIN)/pip-compile -q --strip-extras $(PIP_FLAGS) --no-emit-find-links --no-emit-index-url --annotation-style=line -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --extra dev --strip-extras $(PIP_FLAGS) --no-emit-find-links --no-emit-index-url --annotation-style=line -o requirements-dev.lock pyproject.toml
	! grep -iE '^(nvidia|triton)' requirements.lock requirements-dev.lock
	grep -q '^torch==2.13.0+cpu' requirements.lock

install: $(BIN)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $@

## make run: install, simulate the demo city, materialise everything, publish DuckDB, say what to open next
run: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/lakehouse run

## make run-real: a real city: ingest whatever is in LANDING_URI, no simulation, no ground truth
run-real: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/lakehouse run --no-simulate

## make test: the whole test suite (unit, materialisation, sensors, services), on TEST_WORKERS
## pytest-xdist workers (work units and order: tests/conftest.py; docs/TESTING.md); the 20 slowest last
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder \
		--durations=20

## make ui: the Dagster UI on http://127.0.0.1:3000 (webserver + daemon: sensors, schedule, automation)
ui: install $(DAGSTER_HOME)/dagster.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dg dev --host 127.0.0.1 --port 3000

## make ingest-nats: the long-running residents' reports subscriber (NATS JetStream 127.0.0.1:4222 -> bronze, exactly once)
ingest-nats: install
	$(BIN)/lakehouse ingest-nats

## make ingest-mqtt: the long-running bin-sensor subscriber (MQTT 127.0.0.1:1883 -> bronze, exactly once)
ingest-mqtt: install
	$(BIN)/lakehouse ingest-mqtt

simulate: install
	$(BIN)/lakehouse simulate --bad-inputs

bench: install
	$(BIN)/python bench/pipeline_bench.py --profiles demo

bench-city: install
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/pipeline_bench.py --profiles demo city

## make bench-trees: tree twin accuracy on an unseen seed (demo city), LiDAR points/s on the real bcts tiles, and detection on the real NEON TEAK plots beside lmf
bench-trees: install
	$(BIN)/python bench/trees_eval.py --profile demo --seed 2718
	$(BIN)/python bench/trees_real.py --json bench/results/trees_real.json

## make bench-roads: damage macro-F1 and grades within 0.5 on an unseen survey, anonymisation recall, frames/s;
## real held-out plates, faces and crack tiles against the targets (bench/roads_real.py: anonymiser + damage + one-pipeline frames/s)
bench-roads: install
	$(BIN)/python bench/roads_eval.py --test-spacing 10
	$(BIN)/python bench/roads_real.py

## make bench-waste: forecast MAE vs seasonal naive, a month of fixed rounds vs the platform's plans, VRP gaps
bench-waste: install
	$(BIN)/python bench/waste_forecast_bench.py
	$(BIN)/python bench/waste_month_bench.py
	$(BIN)/python bench/vrp_bench.py

## make bench-admin: seconds per DSP control report, search top-1 on planted queries, contract clauses
## (precision / recall per field), procurement marts on a real DECP export
bench-admin: install
	$(BIN)/python bench/admin_reports_bench.py
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/admin_clauses.py
	$(BIN)/python bench/procurement_real.py

clean:
	rm -rf data .dagster

# ---- scale-out (docs/SCALE.md)
PG_ENV := DAGSTER_PG_HOST=$${DAGSTER_PG_HOST:-127.0.0.1} DAGSTER_PG_USER=$${DAGSTER_PG_USER:-postgres} \
	DAGSTER_PG_PASSWORD=$${DAGSTER_PG_PASSWORD:-} DAGSTER_PG_DB=$${DAGSTER_PG_DB:-dagster}
PG_HOME := $(CURDIR)/.dagster-postgres

## make ui-postgres: the Dagster UI + daemon on the Postgres instance profile (database $DAGSTER_PG_DB, default dagster)
ui-postgres: install
	mkdir -p $(PG_HOME) && cp orchestration/instance/dagster.postgres.yaml $(PG_HOME)/dagster.yaml
	$(PG_ENV) $(BIN)/python -m orchestration.pg_admin
	$(PG_ENV) DAGSTER_HOME=$(PG_HOME) DAGSTER_PROFILE=postgres PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/dg dev --host 127.0.0.1 --port 3000

## make celery-workers: two dagster-celery workers (broker RabbitMQ 127.0.0.1:5672, results Redis 127.0.0.1:6379)
celery-workers: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-celery worker start -y orchestration/instance/celery.yaml -n lakehouse-1 -A dagster_celery.app --background
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-celery worker start -y orchestration/instance/celery.yaml -n lakehouse-2 -A dagster_celery.app --background
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-celery worker list -y orchestration/instance/celery.yaml

celery-workers-stop: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-celery worker terminate -y orchestration/instance/celery.yaml lakehouse-1
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-celery worker terminate -y orchestration/instance/celery.yaml lakehouse-2

## make bench-s3: the demo `make run` on a local S3 server (moto) against local disk: same marts?
bench-s3: install
	$(BIN)/python bench/s3_parity_bench.py --profile demo --json bench/results/s3_parity.json

## make bench-incremental: full build of the demo city, then one new day of waste data and one new survey
## folder through the sensors and the automation ticks: seconds until DuckDB shows them, ratio to the full build
bench-incremental: install
	$(BIN)/python bench/incremental_bench.py --profile demo --nightly --json bench/results/incremental.json

## make test-scale: object store, Postgres daemon and Celery executor tests (local servers)
test-scale: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/scale
