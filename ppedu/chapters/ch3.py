"""Chapter 3, notebooks/03_micro_batches.ipynb: filling the pipe, and what it costs in memory.

    get_cluster, TrainConfig, train       warm ranks; a schedule run on them, measured
    sweep_m, best_m, step_time_model      bubble and step time as m grows, measured and modelled
    theory                      closed-form bubbles
    plots, widgets              figures (bubble and step time vs m, memory) and the panels
    layer_activation_bytes      Korthikanti's activation bytes of one layer
    get_model, Layout, plan, plan_memory, plan_panel   a real model's bytes per GPU, drawn and explored
    check_choose_m              exercise: the largest m that fits the memory budget
    say, text                   the notebook's printed sentences and figure titles, in the student's language
    Blank, NotAnswered, answered, exercise   the exercises' stubs and check cells
"""

from ppedu.notebook.checks.schedules import check_choose_m
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise
from ppedu.notebook.plots import training as plots
from ppedu.notebook.plots.memory import plan_memory
from ppedu.notebook.texts import say, text
from ppedu.notebook.widgets import training as widgets
from ppedu.notebook.widgets.plan import plan_panel
from ppedu.planner.formulas import layer_activation_bytes
from ppedu.planner.models import get_model
from ppedu.planner.plan import Layout, plan
from ppedu.runtime.cluster import get_cluster
from ppedu.schedules import theory
from ppedu.training.engine import TrainConfig, train
from ppedu.training.sweeps import best_m, step_time_model, sweep_m
