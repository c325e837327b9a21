"""Memory and bubble planning for real models (chapter 3's memory wall, with numbers).

models     named model shapes (GPT-3, Llama, Megatron-LM's 48-layer model) with their sources
formulas   parameters per layer, mixed-precision Adam bytes, Korthikanti et al. 2022 activations
plan       a parallel layout (tp x pp x dp, schedule, m, recompute) -> bytes per GPU, bubble, fits

Torch-free (like ``ppedu.schedules``): plans for a 405B model are arithmetic, not tensors.
"""
