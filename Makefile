# The two commands of the README:
#   make course   set everything up, then open the course in JupyterLab
#   make test     set up what the tests need, then run the whole suite
VPY := .venv/bin/python

.PHONY: course test setup setup-test unit notebooks browser bench student clean

course: setup
	$(VPY) -m ppedu.cli doctor -p 4
	$(VPY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_setup.ipynb

setup:
	scripts/setup.sh lab

setup-test:
	scripts/setup.sh lab,test
	scripts/setup_browser.sh

test: setup-test
	$(VPY) -m pytest tests
	$(VPY) -m pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider notebooks

unit: ; $(VPY) -m pytest tests
notebooks: ; $(VPY) -m pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks
browser: ; scripts/setup_browser.sh && $(VPY) -m pytest tests/test_browser.py
bench: ; $(VPY) benchmarks/bench_vs_torch_pipelining.py
student: ; $(VPY) -m ppedu.cli student-copy --out student

clean:
	rm -rf .venv build *.egg-info course/_build student
