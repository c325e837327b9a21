"""Tensor parallelism (chapter 1).

    layers   Megatron column/row-parallel layers, TP attention and MLP, TP x PP groups
    jobs     what each rank runs (a TP step, a tp x pp mesh step) and its typed report
    compare  TP vs PP measured on real ranks: bytes, messages and step time (the driver side)
"""
