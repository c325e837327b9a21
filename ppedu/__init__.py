"""ppedu: pipeline parallelism for LLMs, taught by running real pipelines and measuring them.

Modules, one course concept each:
    cluster    a warm group of torch.distributed ranks (gloo on CPU, NCCL on GPU)
    comm       point-to-point send/recv with shape headers, counters, a link model
    schedules  pipeline schedules as data (naive, GPipe, 1F1B, interleaved, ZB-H1)
    validator  checks a schedule and explains the first broken dependency
    simulator  discrete-event simulation of a schedule against a cost model
    theory     closed-form bubble and memory formulas
    engine     runs a schedule on real ranks, records the timeline, measures the bubble
    tp         Megatron-style tensor parallel layers (chapter 1)
    serving    a pipeline-parallel inference server with a KV cache (chapter 5)
"""

__version__ = "0.1.0"
