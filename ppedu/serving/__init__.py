"""A pipeline-parallel inference server (chapter 5).

    workload   seeded requests: arrivals and prompt/output lengths
    scheduler  batching policies (static, dynamic, continuous) and K batches in flight
    server     the driver on rank 0 and the stage loop on every rank, with KV caches
    wire       the fixed-size messages between stages
    simulator  the same scheduler on a fake clock
    metrics    throughput, TTFT/TPOT/E2E, decode bubble: ServingResult
"""
