"""Chapter 4, notebooks/04_1f1b.ipynb: 1F1B, interleaving and zero bubble.

    get_cluster, shutdown, TrainConfig, train   warm ranks; a schedule run on them, measured
    build_schedule, CostModel, simulate, theory schedules as data, simulated, in closed form
    plots, widgets              the training figures (Gantt pairs, memory, schedules) and the panel
    measure, train_step_1f1b, lab_gantt   chapter 6's loop for 1F1B, run on the ranks and drawn
    frontier, frontier_table, frontier_plot   every schedule's bubble, peak and messages
    check_rank_order            exercise: one rank's 1F1B order, written by hand
    say, text                   the notebook's printed sentences and figure titles, in the student's language
    Blank, NotAnswered, answered, exercise   the exercises' stubs and check cells
"""

from ppedu.lab import measure
from ppedu.notebook.checks.schedules import check_rank_order
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise
from ppedu.notebook.plots import training as plots
from ppedu.notebook.plots.frontier import frontier as frontier_plot
from ppedu.notebook.plots.lab import lab_gantt
from ppedu.notebook.texts import say, text
from ppedu.notebook.widgets import training as widgets
from ppedu.runtime.cluster import get_cluster, shutdown
from ppedu.schedules import build_schedule, theory
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.training.engine import TrainConfig, train
from ppedu.training.frontier import frontier, frontier_table
from ppedu.training.loops import train_step_1f1b
