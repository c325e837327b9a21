"""Measure the activation memory a training step really holds (one helper for every workload).

Two methods, and results always say which one was used:
  ``cuda_allocator``      on a GPU: ``torch.cuda.max_memory_allocated`` during the step minus what
                          was allocated when it started (weights, optimizer state). Everything the
                          allocator handed out counts: saved activations, gradients being built,
                          temporaries, a block re-run by recomputation.
  ``saved_tensor_hooks``  on CPU (no allocator statistics): the bytes of the tensors autograd saves
                          for backward, seen through ``torch.autograd.graph.saved_tensors_hooks``.
                          A storage counts once however many ops save views of it; parameters are
                          excluded; a tensor leaves the live set when autograd frees it (after its
                          backward), so the peak is the live set's peak over the step. Temporaries
                          (a recomputed block during its own backward, gradients) are not seen.

The hooks cost a Python call per saved tensor (~10 % of a tiny-GPT step), so the executor runs
them on a measurement step only. ``torch.utils.checkpoint`` (non-reentrant) saves its inputs
through the same hooks, so recomputation's kept inputs are counted.
"""

from __future__ import annotations

import contextlib
import weakref

import torch

METHODS = ("cuda_allocator", "saved_tensor_hooks", "held_tensors")


class _Saved:
    """What the pack hook hands autograd instead of the tensor: its lifetime is the saved slot's."""
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor


class SavedTensorMeter:
    """Live and peak bytes of autograd's saved tensors inside ``with meter:``.

        meter = SavedTensorMeter(exclude=model.parameters())
        with meter:
            loss = model(x, y); loss.backward()
        meter.peak_bytes     # most bytes saved for backward at any moment
    """

    method = "saved_tensor_hooks"

    def __init__(self, exclude=()):
        self.exclude = {t.untyped_storage().data_ptr() for t in exclude}
        self.refs: dict[int, list[int]] = {}   # storage pointer -> [saved slots using it, bytes]
        self.live_bytes = self.peak_bytes = 0
        self.saved_bytes = 0                   # every distinct storage ever saved (no frees)
        self._hooks = None

    def __enter__(self) -> "SavedTensorMeter":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)

    def _pack(self, t: torch.Tensor):
        storage = t.untyped_storage()
        ptr, nbytes = storage.data_ptr(), storage.nbytes()
        if ptr in self.exclude or nbytes == 0:
            return t
        entry = self.refs.get(ptr)
        if entry is None:
            self.refs[ptr] = [1, nbytes]
            self.live_bytes += nbytes
            self.saved_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        else:
            entry[0] += 1
        box = _Saved(t)
        weakref.finalize(box, self._release, ptr)  # fires when autograd drops the saved slot
        return box

    @staticmethod
    def _unpack(box):
        return box.tensor if isinstance(box, _Saved) else box

    def _release(self, ptr: int) -> None:
        entry = self.refs[ptr]
        entry[0] -= 1
        if entry[0] == 0:
            self.live_bytes -= entry[1]
            del self.refs[ptr]


class CudaPeakMeter:
    """Peak bytes the CUDA allocator handed out inside ``with meter:``, above the starting level."""

    method = "cuda_allocator"

    def __init__(self, device: torch.device):
        self.device, self.peak_bytes, self._base = device, 0, 0

    def __enter__(self) -> "CudaPeakMeter":
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self._base = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc) -> None:
        torch.cuda.synchronize(self.device)
        self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base


def activation_meter(device: torch.device, parameters=(), measure: bool = True):
    """The right meter for ``device``: the allocator on CUDA (cheap: every step), saved-tensor
    hooks on CPU when ``measure`` (a measurement step), else a no-op context (None as the meter)."""
    if device.type == "cuda":
        return CudaPeakMeter(device)
    if measure:
        return SavedTensorMeter(exclude=parameters)
    return contextlib.nullcontext()


def measure_step(fn, *args, parameters=(), device: torch.device | None = None):
    """Run ``fn(*args)`` under a meter; returns (fn's result, peak bytes, method)."""
    meter = activation_meter(device or torch.device("cpu"), parameters)
    with meter:
        out = fn(*args)
    return out, meter.peak_bytes, meter.method
