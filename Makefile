# graphdet: `make demo` and `make test` work on a fresh clone of a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
GD     := $(VENV)/bin/graphdet
DEMO   ?= demo
# pytest workers: the CI box has 2 cores
JOBS   ?= 2

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev,spark]'
	touch $@

demo: install
	$(GD) generate --seed 7 --tenants 3 --days 60 --out $(DEMO)/log --overwrite \
	    --mbox $(DEMO)/raw.mbox.gz --raw-limit 2000 --raw-latest
	$(GD) ingest $(DEMO)/raw.mbox.gz --tenant-config $(DEMO)/log/tenants.yaml \
	    --out $(DEMO)/ingested --overwrite
	$(GD) rebuild --log $(DEMO)/log --out $(DEMO)/snapshots
	$(GD) train --log $(DEMO)/log --out $(DEMO)/artifacts
	$(GD) decide $(DEMO)/raw.mbox.gz --artifacts $(DEMO)/artifacts > $(DEMO)/decisions.txt
	@grep -A4 -m4 -E "^(MALICIOUS|SUSPICIOUS)" $(DEMO)/decisions.txt || true
	@echo "all decisions of the last 2,000 messages, as raw mail through serving: $(DEMO)/decisions.txt"
	$(GD) summary $(DEMO)/log --report $(DEMO)/summary.md
	@echo "demo report: $(DEMO)/artifacts/report/report.md (PR curve: $(DEMO)/artifacts/report/pr_curve.png)"
	$(GD) report --artifacts $(DEMO)/artifacts --log $(DEMO)/log --out $(DEMO)/report --simulate-feedback
	$(GD) health --chronicle $(DEMO)/report/chronicle --artifacts $(DEMO)/artifacts --log $(DEMO)/log \
	    --out $(DEMO)/report/health --show 10
	$(GD) replay --chronicle $(DEMO)/report/chronicle --artifacts $(DEMO)/artifacts --log $(DEMO)/log \
	    --logged-vectors --threshold '*=0.5' --show 3
	@echo "evaluation report: $(DEMO)/report/report.md (every decision after the training cut: $(DEMO)/report/chronicle)"

test: install lint
	$(PY) -m pytest -q -n $(JOBS) tests

lint: install
	$(VENV)/bin/ruff check graphdet serving training tests bench
	$(VENV)/bin/mypy

bench: install
	mkdir -p bench/out
	$(PY) bench/bench_ingest.py --out bench/out
	$(PY) bench/bench_generate.py --messages 1000000 --write
	$(PY) bench/bench_rebuild.py --sizes 1000000,3000000,10000000

clean:
	rm -rf $(VENV) $(DEMO) bench/out .pytest_cache .hypothesis
