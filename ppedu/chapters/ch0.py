"""Chapter 0, notebooks/00_setup.ipynb: a warm cluster and your first measured pipeline.

    report                      what this machine can run (`ppedu doctor`)
    get_cluster, diagnostics    warm ranks, and the small jobs that show who is who (whoami)
    TrainConfig, train          run a schedule on the ranks: measured, replayed, theory
    plots, widgets              the training figures (Gantt) and the Run-button training panel
    build_schedule, CostModel, simulate   a schedule as data, simulated (the hidden check)
    check_bubble_formula        exercise: your bubble function against ppedu's
    say, text                   the notebook's printed sentences and figure titles, in the student's language
    Blank, NotAnswered, answered, exercise   the exercises' stubs and check cells
"""

from ppedu.commands.doctor import report
from ppedu.notebook.checks.schedules import check_bubble_formula
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise
from ppedu.notebook.plots import training as plots
from ppedu.notebook.texts import say, text
from ppedu.notebook.widgets import training as widgets
from ppedu.runtime import diagnostics
from ppedu.runtime.cluster import get_cluster
from ppedu.schedules import build_schedule
from ppedu.schedules.simulator import CostModel, simulate
from ppedu.training.engine import TrainConfig, train
