# The project's commands. `make help` lists them.
#   make build          fetch + verify the MIMIC-IV demo, write the HCUP reference seed, then dbt build
#                       into a candidate database, published over the one BI reads if every test passed
#   make build-prod     the same with the selector `production` (selectors.yml): no unit tests, and
#                       no k-selection diagnostics while cluster_k is fixed
#   make test           every test on DuckDB, on both cores: pytest (Python modules, data step, dbt end to end)
#   make test-fast      the tests that run no dbt: the edit loop
#   make release-build  the same on a full MIMIC-IV release read in place (MIMIC_RELEASE_DIR)
#   make release-build-prod  the production build of a full release (the one to run per release)
#   make rollback       swap the published database with the previous version
#   make bench          the benchmark behind BENCHMARKS.md
#   make prospective    the segments fitted at an index and validated on the next year, in their own database

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# dbt reads profiles.yml from the project root. MIMIC_SEGMENTS_DB is the published database BI
# reads (default mimic_segments.duckdb); dbt by hand writes target/dev.duckdb (docs/databases.md).
export DBT_PROFILES_DIR := $(CURDIR)
DBT := $(BIN)/dbt

.DEFAULT_GOAL := help
.PHONY: help install data build dbt-build build-prod release-build-prod docs docs-serve export report test test-fast lint charlson-parity clean \
	release-build release-parquet generate generator-correlations bench validation-report rollback status prospective \
	build-postgres test-postgres postgres-start postgres-stop install-postgres install-spark \
	fit-postgres rollback-postgres status-postgres build-spark test-spark

DOCS_PORT ?= 8080
DEMO_MANIFEST := seeds/mimic_demo/.manifest.json

# Full-release mode: a MIMIC-IV release in its official layout (hosp/*.csv.gz, icu/*.csv.gz).
MIMIC_RELEASE_DIR ?=
MIMIC_LAST_DATA_YEAR ?= 2019
MIMIC_RELEASE_FORMAT ?= csv
# Paths reach Python through the environment, never through shell-quoted strings, so a path
# with spaces, quotes or non-ASCII characters works.
export MIMIC_RELEASE_DIR MIMIC_LAST_DATA_YEAR MIMIC_RELEASE_FORMAT
# Builds go through mimic_segments.publishing.publish: dbt build --target prod into a candidate
# database, every test there, then one atomic rename over the published database
# (MIMIC_SEGMENTS_DB) BI reads.
PUBLISH := $(BIN)/python -m mimic_segments.publishing.publish
# Extra arguments for dbt build, e.g. DBT_ARGS='--select +patient_features'.
DBT_ARGS ?=
# Extra dbt vars (YAML), merged with full-release mode's, e.g. DBT_VARS='{quarantine_row_defects: true}'.
DBT_VARS ?=
export DBT_VARS
GENERATE_ARGS ?= --patients 2000 --seed 42 --out data/generated/2000
BENCH_ARGS ?=
VALIDATION_ARGS ?=
CORRELATION_ARGS ?=

help: ## List the commands
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-19s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $@

install: $(STAMP) ## Create .venv and install the pinned dependencies

data: $(STAMP) ## Fetch + verify the demo into seeds/mimic_demo/, write seeds/reference/ (HCUP CCI/CCIR, AHRQ CCSR, CMS GEM) and the feature catalogue macro (MIMIC_DEMO_DIR: local copy)
	$(BIN)/python -m mimic_segments.sources.demo
	$(BIN)/python -m mimic_segments.sources.reference
	$(BIN)/python -m mimic_segments.sources.ccsr
	$(BIN)/python -m mimic_segments.catalogue.features

dbt-build: $(STAMP) ## dbt build into a candidate, test it, publish it atomically (expects `make data`)
	$(PUBLISH) build -- $(DBT_ARGS)

build: data dbt-build ## Build everything on the demo: data step, dbt build + tests into a candidate, then publish

# The production build (selectors.yml, selector `production`): every seed, model and data test,
# without the unit tests and, while cluster_k is fixed, without the k-selection diagnostics.
PROD_SELECTOR := --selector production

build-prod: data $(STAMP) ## The production build on the demo: data step, then dbt build --selector production, tested, published
	$(PUBLISH) build -- $(PROD_SELECTOR) $(DBT_ARGS)

docs: $(STAMP) ## Generate the dbt docs site into target/ (index.html, and static_index.html as one file)
	@test -f $(DEMO_MANIFEST) || { echo "No verified demo data: run 'make build' first." >&2; exit 2; }
	@test -f "$${MIMIC_SEGMENTS_DB:-mimic_segments.duckdb}" || { echo "No published database: run 'make build' first." >&2; exit 2; }
	@# dbt opens its database read-write: give it a copy, never the file BI reads
	mkdir -p target/docs-db && cp "$${MIMIC_SEGMENTS_DB:-mimic_segments.duckdb}" target/docs-db/mimic_segments.duckdb
	MIMIC_SEGMENTS_DEV_DB=target/docs-db/mimic_segments.duckdb $(DBT) docs generate
	MIMIC_SEGMENTS_DEV_DB=target/docs-db/mimic_segments.duckdb $(DBT) docs generate --static

docs-serve: docs ## Serve the docs site on http://127.0.0.1:8080 (DOCS_PORT=... to change)
	$(DBT) docs serve --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

export: $(STAMP) ## Export every mart to exports/<table>.parquet (for tools that read files)
	$(BIN)/python -m mimic_segments.reporting.export

# Prospective validation (docs block prospective_validation): index mode (var feature_index) in
# its own database, never over the one BI reads, and its report in its own folder.
PROSPECTIVE_DB ?= mimic_segments_prospective.duckdb
PROSPECTIVE_INDEX ?= first_year
PROSPECTIVE_REPORT ?= reports/prospective

prospective: data ## Features + segments as of each patient's index, next-year outcomes per segment (PROSPECTIVE_DB), and their report
	@# feature_index joins the user's DBT_VARS (which may set it too) rather than replacing them
	MIMIC_SEGMENTS_DB="$(PROSPECTIVE_DB)" DBT_TARGET_PATH=target/prospective \
		DBT_VARS="$$(PROSPECTIVE_INDEX='$(PROSPECTIVE_INDEX)' $(BIN)/python -c \
		'import json, os, yaml; v = yaml.safe_load(os.environ.get("DBT_VARS") or "") or {}; v.setdefault("feature_index", os.environ["PROSPECTIVE_INDEX"]); print(json.dumps(v))')" \
		$(PUBLISH) build -- $(DBT_ARGS)
	$(BIN)/python -m mimic_segments.reporting.report --database "$(PROSPECTIVE_DB)" --out "$(PROSPECTIVE_REPORT)"

report: $(STAMP) ## Write reports/segmentation_report.html (+ figures/*.png) from the marts (after make build)
	$(BIN)/python -m mimic_segments.reporting.report

# make test runs on both cores (pytest-xdist): each worker builds the demo once in its own temp
# directory, and a module's tests stay on one worker, so its own builds run once (docs/testing.md).
# The PostgreSQL and Spark tests have their own targets, below, and run serially.
PYTEST_WORKERS ?= 2
NOT_OTHER_ENGINES := not postgres and not spark
# Extra pytest arguments, e.g. PYTEST_ARGS='-k readmission --durations=20'.
PYTEST_ARGS ?=

test: data ## Run every test on DuckDB, on both cores: modules, data step, dbt end to end (what CI runs)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "$(NOT_OTHER_ENGINES)" $(PYTEST_ARGS)

test-fast: data ## The edit loop: every test that runs no dbt and reads no dbt build (pytest -m "not e2e")
	$(BIN)/python -m pytest -m "not e2e and $(NOT_OTHER_ENGINES)" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff on the Python code, SQLFluff (dbt templater) on the SQL
	$(BIN)/ruff check src tests python_models scripts bench
	$(BIN)/ruff format --check src tests python_models scripts bench
	@test -f $(DEMO_MANIFEST) || { echo "SQLFluff's dbt templater compiles the project: run 'make data' first." >&2; exit 2; }
	@# the dbt templater connects read-write: a scratch database, never the file BI reads
	@mkdir -p target
	MIMIC_SEGMENTS_DEV_DB=target/sqlfluff.duckdb $(BIN)/sqlfluff lint models analyses tests/singular

release-build: $(STAMP) ## Build, test, publish a full release: MIMIC_RELEASE_DIR=... [MIMIC_LAST_DATA_YEAR=2022 for 3.1]
	$(PUBLISH) build --release -- $(DBT_ARGS)

release-build-prod: $(STAMP) ## The production build of a full release (selector production): what to run on each new release
	$(PUBLISH) build --release -- $(PROD_SELECTOR) $(DBT_ARGS)

# PostgreSQL: the whole project in three steps, because dbt-postgres runs no Python models:
# dbt build of the SQL layer, the segmentation fit (mimic_segments.segmentation.warehouse, the
# same pipeline as the Python models, writing their tables), dbt build of the rest (the SQL
# scorer, the segment marts, every test). All into candidate schemas (<schema>__candidate),
# swapped over the published ones in one transaction if everything passed
# (mimic_segments.publishing.schema_swap). A throwaway local server: scripts/local_postgres.sh.
PG_STAMP := $(VENV)/.installed-postgres
PG_PUBLISH := $(PUBLISH) --target postgres

$(PG_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,postgres]'
	@touch $@

install-postgres: $(PG_STAMP) ## Install the PostgreSQL extra (dbt-postgres, psycopg2) into .venv

postgres-start: ## Start a throwaway local PostgreSQL 15 on 127.0.0.1, port MIMIC_SEGMENTS_PG_PORT (default 54329)
	scripts/local_postgres.sh start

postgres-stop: ## Stop the local PostgreSQL and delete its data directory
	scripts/local_postgres.sh stop

build-postgres: data $(PG_STAMP) postgres-start ## Build + test everything on PostgreSQL into candidate schemas, then swap them in (the demo; MIMIC_SEGMENTS_PG_* for another server)
	$(PG_PUBLISH) build -- $(DBT_ARGS)

fit-postgres: $(PG_STAMP) ## Step 2 alone: fit the segmentation from the PostgreSQL inputs dbt last built, write its tables
	$(BIN)/python -m mimic_segments.segmentation.warehouse --target postgres

rollback-postgres: $(PG_STAMP) ## Swap the published PostgreSQL schemas with their previous versions (run again to undo)
	$(PG_PUBLISH) rollback

status-postgres: $(PG_STAMP) ## Which build the PostgreSQL schemas publish (and which is kept for rollback)
	$(PG_PUBLISH) status

test-postgres: data $(PG_STAMP) postgres-start ## PostgreSQL builds the same marts and segments as DuckDB; publish swaps and rolls back; warehouse mode on a mimic-code layout (pytest -m postgres)
	MIMIC_SEGMENTS_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -m postgres

# Apache Spark: the whole project, through dbt-spark's `session` method (a local SparkSession
# in dbt's own process: Java 17, no server). Its metastore and Parquet warehouse are throwaway,
# under target/spark (MIMIC_SEGMENTS_SPARK_DIR); dbt-spark runs no Python models, so the
# segmentation is fitted between two dbt builds, as on PostgreSQL.
SPARK_STAMP := $(VENV)/.installed-spark
export SPARK_LOCAL_IP ?= 127.0.0.1

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test,spark]'
	@touch $@

install-spark: $(SPARK_STAMP) ## Install the Spark extra (dbt-spark[session], pyspark) into .venv

build-spark: data $(SPARK_STAMP) ## Build and test everything on Spark in 3 steps: SQL layer, the fit outside dbt, the segment marts (local session, Parquet under target/spark)
	$(BIN)/python -m mimic_segments.segmentation.warehouse --target spark --build -- $(DBT_ARGS)

test-spark: data $(SPARK_STAMP) ## Spark builds the same marts and segments as DuckDB; the Python models run on Spark frames (pytest -m spark; starts JVMs)
	MIMIC_SEGMENTS_REQUIRE_SPARK=1 $(BIN)/python -m pytest -m spark

rollback: $(STAMP) ## Swap the published database with its previous version (run again to undo)
	$(PUBLISH) rollback

status: $(STAMP) ## Which build is published (and which is kept for rollback)
	$(PUBLISH) status

release-parquet: $(STAMP) ## One-time Parquet copies of MIMIC_RELEASE_DIR's tables (then MIMIC_RELEASE_FORMAT=parquet)
	$(BIN)/python -m mimic_segments.sources.release_parquet --release-dir "$$MIMIC_RELEASE_DIR"

generate: $(STAMP) ## A MIMIC-shaped synthetic release (GENERATE_ARGS='--patients N --seed S --out DIR')
	$(BIN)/python -m mimic_segments.synthetic.generator $(GENERATE_ARGS)

generator-correlations: $(STAMP) ## Generate a 364,627-patient release, measure its correlations beside the demo's into docs/generator.md (CORRELATION_ARGS=...)
	$(BIN)/python -m mimic_segments.synthetic.document $(CORRELATION_ARGS)

validation-report: data ## docs/validation.md: the segmentation on a generated 364,627-patient release and on the demo (VALIDATION_ARGS=...)
	$(BIN)/python -m mimic_segments.reporting.validation $(VALIDATION_ARGS)

bench: $(STAMP) ## Benchmark dbt vs pandas vs one DuckDB query, 10k to 3.6M patients (~70-95 min); writes BENCHMARKS.md (BENCH_ARGS=--quick ...)
	$(BIN)/python bench/run_benchmark.py $(BENCH_ARGS)

# Not part of build/test: the reference SQL is MIT-LCP's, not this repository's.
charlson-parity: $(STAMP) ## Compare admission_comorbidities with mimic-code's charlson.sql (CHARLSON_REFERENCE_SQL=path)
	@test -n "$(CHARLSON_REFERENCE_SQL)" || { echo "set CHARLSON_REFERENCE_SQL to a local copy of mimic-code's charlson.sql" >&2; exit 2; }
	$(BIN)/python scripts/check_charlson_parity.py "$(CHARLSON_REFERENCE_SQL)"

clean: ## Remove build outputs (keeps .venv and the fetched data)
	rm -rf target logs mimic_segments.duckdb mimic_segments.duckdb.wal mimic_segments.duckdb.candidate \
		mimic_segments.duckdb.previous mimic_segments.duckdb.lock \
		mimic_segments_prospective.duckdb mimic_segments_prospective.duckdb.wal
