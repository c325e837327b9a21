"""Tensor parallelism (chapter 1).

    layers   Megatron column/row-parallel layers, TP attention and MLP, TP x PP groups
    compare  TP vs PP measured on real ranks: bytes, messages and step time
"""
