# The two commands of the README:
#   make course   set everything up, then open the course in JupyterLab
#   make test     set up what the tests need, then run the whole suite
VPY := .venv/bin/python

.PHONY: course course-zh test setup setup-test unit notebooks browser bench student clean

# The student copy (solutions stripped) lives in course-work/, outside the tracked notebooks: a
# student's edits never dirty the repository, `git pull` keeps working, and a notebook already
# there is never overwritten (new chapters are added). JupyterLab opens on 00_setup, not the Launcher.
WORK := course-work
LAB_FLAGS := --ServerApp.root_dir=$(WORK) --LabApp.default_url=/lab/tree/00_setup.ipynb --LabApp.news_url=None

course: setup
	$(VPY) -m ppedu.cli doctor -p 4
	$(VPY) -m ppedu.cli student-copy --src notebooks --out $(WORK) --keep-existing
	$(VPY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_FLAGS)

# The Chinese edition: the same notebooks (English code cells, Chinese Markdown from
# course/zh/notebooks/), its own student copy, and ppedu's messages in Chinese (PPEDU_LANG, not
# LANG: the process locale stays as it is).
WORK_ZH := course-work-zh
course-zh: setup
	$(VPY) -m ppedu.cli doctor -p 4
	$(VPY) -m ppedu.i18n.notebooks build build/notebooks-zh
	$(VPY) -m ppedu.cli student-copy --src build/notebooks-zh --out $(WORK_ZH) --keep-existing
	PPEDU_LANG=zh $(VPY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(subst $(WORK),$(WORK_ZH),$(LAB_FLAGS))

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
	rm -rf .venv build *.egg-info course/_build student  # never course-work/: the students' own work
