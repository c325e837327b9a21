"""One facade per notebook: everything notebooks/0N_*.ipynb imports from ppedu, from one module.

A facade only re-exports (tests/test_chapters.py: imports and a docstring, nothing else; the names
are exactly those its notebook imports). The code lives where each name comes from.

    ch0                   00_setup: a warm cluster and your first measured pipeline
    ch1                   01_tp_vs_pp: tensor vs pipeline parallelism, where the bytes go
    ch2                   02_bubbles: why a naive pipeline idles
    ch3                   03_micro_batches: filling the pipe, and what it costs in memory
    ch4                   04_1f1b: 1F1B, interleaving and zero bubble
    ch5                   05_continuous_batching: serving with batches in flight
    ch6                   06_build_your_pipeline: write AFAB and 1F1B yourself
"""
