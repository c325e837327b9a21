"""Chapter 6, notebooks/06_build_your_pipeline.ipynb: write AFAB and 1F1B yourself.

    get_cluster, shutdown       warm ranks (every grade() reuses them)
    grade, measure              your train_step(stage), graded / measured on the ranks
    warmup_study                how long 1F1B's warm-up is on each rank, measured
    lab_gantt, lab_comparison   your measured Gantt chart; bubble and memory beside theory
    check_warmup_prediction, check_verdict   exercises: your prediction, your verdict
    text                        the notebook's printed sentences and figure titles, in the student's language
    Blank, NotAnswered, answered, exercise, require   the exercises' stubs and check cells
"""

from ppedu.lab import grade, measure
from ppedu.lab.warmup import warmup_study
from ppedu.notebook.checks.lab import check_verdict, check_warmup_prediction
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise, require
from ppedu.notebook.plots.lab import lab_comparison, lab_gantt
from ppedu.notebook.texts import text
from ppedu.runtime.cluster import get_cluster, shutdown
