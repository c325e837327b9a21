"""Chapter 1, notebooks/01_tp_vs_pp.ipynb: tensor vs pipeline parallelism, where the bytes go.

    cluster                     warm ranks (`cluster.get_cluster(n)`, `cluster.shutdown()`)
    report                      `ppedu compare-tp-pp`'s printed report
    compare_tp_pp, crossover_latency_ms   TP and PP on real ranks: bytes, time, the crossover link
    GPT, GPTConfig, split, uniform_bounds the tiny GPT, a Megatron split of a weight, layers per stage
    widgets_tp                  the TP-vs-PP panel and its figures
    check_tp_vs_pp_bytes        exercise: which moved more bytes, and by how much
    say, text                   the notebook's printed sentences and figure titles, in the student's language
    Blank, NotAnswered, answered, exercise   the exercises' stubs and check cells
"""

from ppedu.commands.compare_tp_pp import report
from ppedu.model.gpt import GPT, GPTConfig
from ppedu.model.partition import uniform_bounds
from ppedu.notebook.checks.tp import check_tp_vs_pp_bytes
from ppedu.notebook.grading import Blank, NotAnswered, answered, exercise
from ppedu.notebook.texts import say, text
from ppedu.notebook.widgets import tp as widgets_tp
from ppedu.runtime import cluster
from ppedu.tensor_parallel.compare import compare_tp_pp, crossover_latency_ms
from ppedu.tensor_parallel.layers import split
