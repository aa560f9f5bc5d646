# Two commands on a fresh machine: `make run` (portal with demo data) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-s3 serve venv migrate demo worker bench clean ohif

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	@DJANGO_DEBUG=1 $(PY) manage.py install_ohif || echo "warning: the OHIF viewer is not installed (needs npm); /viewer/ will say so"
	./scripts/run.sh

test: $(STAMP)
	./scripts/test.sh

# Production: web (granian) + task workers + DICOM receiver on this machine; each can run alone on
# its own machine with `scripts/serve.sh web|worker|receiver` (README, "Production").
serve: $(STAMP)
	./scripts/serve.sh all

# The storage, intake, download and fixity tests against a bucket of moto's S3 server (started and
# stopped by the script); DATABASE_URL as for `make test`.
test-s3: $(STAMP)
	./scripts/test_s3.sh

# OHIF's prebuilt viewer (@ohif/app, pinned in dicomweb/viewer.py) for /viewer/, fetched with npm
# into var/ohif (git-ignored); skipped when that version is already there.
ohif: $(STAMP)
	DJANGO_DEBUG=1 $(PY) manage.py install_ohif

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	@echo "Benchmarks live in bench/; see docs/benchmarks.md for how to run each."

clean:
	rm -rf var $(VENV)
