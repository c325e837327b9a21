"""Chapter 2, notebooks/02_bubbles.ipynb: why a naive pipeline idles.

    get_cluster, TrainConfig, train       warm ranks; a schedule run on them, measured
    theory                      closed-form bubbles and makespans
    plots, widgets              the training figures (Gantt, measured vs simulated) and the panel
    load_example, example_text, parse_markdown_table, validate   hand-written schedule tables, checked
    check_bubble_formula        exercise 1: your bubble function against ppedu's
    check_decode_bubble         exercise: the decode bubble with batches in flight
    check_seed_fix              exercise 3: seed 002's 1F1B table, repaired
    layer_costs, check_partition_choice, run_splits, partition_figure, best_split
                                exercise 4: balance the stages of a model whose head is heavy
    say, text                   the notebook's printed sentences and figure titles, in the student's language
    Blank, NotAnswered, answered, exercise, require   the exercises' stubs and check cells
"""

from ppedu.notebook.checks.partition import (best_split, check_partition_choice, layer_costs,
                                             partition_figure, run_splits)
from ppedu.notebook.checks.schedules import check_bubble_formula
from ppedu.notebook.checks.seed_table import check_seed_fix
from ppedu.notebook.checks.serving import check_decode_bubble
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise, require
from ppedu.notebook.plots import training as plots
from ppedu.notebook.texts import say, text
from ppedu.notebook.widgets import training as widgets
from ppedu.runtime.cluster import get_cluster
from ppedu.schedules import theory
from ppedu.schedules.tables import example_text
from ppedu.schedules.validator import load_example, parse_markdown_table, validate
from ppedu.training.engine import TrainConfig, train
