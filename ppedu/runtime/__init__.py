"""The runtime: real torch.distributed ranks and the messages between them.

    worker       the rank side: process state, the shared clock, the job loop
    cluster      a warm group of spawned ranks (gloo on CPU, NCCL on GPU); `get_cluster(n)`
    launch       the same `.run` API under torchrun (one or several nodes)
    comm         point-to-point send/recv with shape headers, timeouts, counters, a link model
    diagnostics  small jobs that show ranks, messages and timeouts (chapter 0)
"""
