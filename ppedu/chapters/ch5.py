"""Chapter 5, notebooks/05_continuous_batching.ipynb: serving with batches in flight.

    get_cluster                 warm ranks
    make_workload, describe     seeded request arrivals and lengths, summarised
    BatchingConfig, serve       a batching policy; the pipeline-parallel server on the ranks
    ServingCost, A100, LLAMA2_7B, gpu_step_costs, inflight_gain   the step-cost model
    studies                     the chapter's experiments, measured (simulator beside)
    plots, plots_serving, widgets_serving   figures and the serving panel
    check_decode_bubble, check_policy_choice   exercises: the decode bubble, the policy for a target
    say, text                   the notebook's printed sentences and figure titles, in the student's language
    Blank, NotAnswered, answered, exercise   the exercises' stubs and check cells
"""

from ppedu.notebook.checks.serving import check_decode_bubble, check_policy_choice
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise
from ppedu.notebook.plots import serving as plots_serving
from ppedu.notebook.plots import training as plots
from ppedu.notebook.texts import say, text
from ppedu.notebook.widgets import serving as widgets_serving
from ppedu.runtime.cluster import get_cluster
from ppedu.serving import studies
from ppedu.serving.cost import A100, LLAMA2_7B, ServingCost, gpu_step_costs, inflight_gain
from ppedu.serving.scheduler import BatchingConfig
from ppedu.serving.server import serve
from ppedu.serving.workload import describe, make_workload
