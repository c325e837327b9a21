# The two commands of the README:
#   make course   set everything up, build the book, then open the course in JupyterLab
#   make test     set up what the tests need, then run the whole suite
# and   make book   build the book (course/ + its measured figures) into course-work/book/
VPY := .venv/bin/python

.PHONY: course course-zh book test setup setup-test unit fast notebooks browser bench student clean

# The student copy (solutions stripped) lives in course-work/, outside the tracked notebooks: a
# student's edits never dirty the repository, `git pull` keeps working, and a notebook already
# there is never overwritten (new chapters are added). JupyterLab opens on 00_setup, not the Launcher.
# The book is built into $(WORK)/book/ and served at /ppedu-book/ (ppedu.instructor.book.server): each
# notebook's Reading link opens its chapter there. Kernel messages are encrypted (CurveZMQ keys the server
# provisions; ipykernel's kernelspec declares support), so no "running over TCP without encryption" warnings.
WORK := course-work
LAB_FLAGS := --ServerApp.root_dir=$(WORK) --LabApp.default_url=/lab/tree/00_setup.ipynb --LabApp.news_url=None --ServerApp.jpserver_extensions=ppedu.instructor.book.server=True --KernelManager.transport_encryption=auto

course: setup
	$(VPY) -m ppedu.cli doctor -p 4
	$(VPY) -m ppedu.cli student-copy --src notebooks --out $(WORK) --keep-existing
	-$(VPY) -m ppedu.instructor.book.build --out $(WORK)/book   # a failed book build still opens the course
	$(VPY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_FLAGS)

# The Chinese edition: the same notebooks (English code cells, Chinese Markdown from
# course/zh/notebooks/), its own student copy, the Chinese book (course/zh/ pages over a copy of
# course/, the same measured figures), and ppedu's messages in Chinese (PPEDU_LANG, not
# LANG: the process locale stays as it is).
WORK_ZH := course-work-zh
course-zh: setup
	PPEDU_LANG=zh $(VPY) -m ppedu.cli doctor -p 4
	$(VPY) -m ppedu.i18n.notebooks build build/notebooks-zh
	PPEDU_LANG=zh $(VPY) -m ppedu.cli student-copy --src build/notebooks-zh --out $(WORK_ZH) --keep-existing
	-$(VPY) -m ppedu.instructor.book.build --lang zh --out $(WORK_ZH)/book   # the Chinese book (course/zh/)
	PPEDU_LANG=zh $(VPY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(subst $(WORK),$(WORK_ZH),$(LAB_FLAGS))

setup:
	scripts/setup.sh lab

# The book with its figures (measured on local ranks, about a minute); kept when up to date.
book: setup
	$(VPY) -m ppedu.instructor.book.build --out $(WORK)/book

setup-test:
	scripts/setup.sh lab,test
	scripts/setup_browser.sh
	scripts/setup_sandbox.sh

test: setup-test
	$(VPY) -m pytest tests
	$(VPY) -m pytest --nbval-lax --nbval-sanitize-with tests/course/nbval_sanitize.cfg -p no:cacheprovider notebooks

unit: ; $(VPY) -m pytest tests
fast: ; $(VPY) -m pytest -m "not ranks" tests   # the half that starts no ranks, subprocess or kernel
notebooks: ; $(VPY) -m pytest --nbval-lax --nbval-sanitize-with tests/course/nbval_sanitize.cfg notebooks
browser: ; scripts/setup_browser.sh && $(VPY) -m pytest tests/course/test_browser.py
bench: ; $(VPY) benchmarks/bench_vs_torch_pipelining.py
student: ; $(VPY) -m ppedu.cli student-copy --out student

clean:
	rm -rf .venv build *.egg-info course/_build student  # never course-work/: the students' own work
