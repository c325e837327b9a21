"""The model the pipelines train and serve.

    gpt        a tiny GPT (one readable file), deterministic from a seed, split into stage modules
    kvcache    per-layer key/value caches and greedy decoding (chapter 5)
    partition  which layers go to which stage (uniform, balanced, memory), with per-stage cost
    corpus     the shipped corpus, a character tokenizer, deterministic batches
    memory     activation bytes, measured: saved-tensor hooks on CPU, the CUDA allocator on GPU
    workloads  what a rank computes: the tiny GPT (model) or timed waits that stand for it
"""
