"""A pipeline-parallel inference server (chapter 5).

    workload   seeded requests (Poisson or t=0 arrivals, fixed/uniform/exponential/lognormal
               lengths), and RequestState: a request while it is served
    cost       what a stage step costs: t0 + c * tokens (defaults: Llama-2-7B on an A100)
    scheduler  batching policies (static, dynamic, continuous), K batches in flight, and what one
               iteration carries: decodes first, prompt chunks (token budget), KV blocks
    blocks     the paged KV cache's block manager
    paged      the KV blocks on a stage
    driver     THE serving loop (schedule -> run -> postprocess) over a pipe, real or simulated
    server     the real pipe on rank 0 of real ranks
    stage      the other ranks: one pipeline stage each
    wire       their messages: one fixed-size message per hop
    simulator  the simulated pipe: the same scheduler and loop on a fake clock
    calibrate  the overheads a real run measured, for the simulator
    overheads  their records: every sample, the means, the step cost fitted through the steps
    metrics    ServingResult: throughput, latencies, bubble, KV cache
    studies    the chapter's experiments, one function each
"""
