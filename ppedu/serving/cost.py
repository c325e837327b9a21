"""What one stage step of a serving iteration costs: ``t0 + c * tokens``.

A transformer layer reads all its weights once per forward, whatever the batch (``t0``: weights /
HBM bandwidth), and spends compute on every token in the batch (``c``: 2 FLOPs per parameter per
token / achieved FLOP/s). A decode token and a prompt token cost the same ``c``; attention over the
context is left out (Sarathi-Serve §3.1, Fig. 4: linear layers take over 80 % of the time even for long prompts).
So a decode step of a small batch is weight-bound (``t0`` dominates) and a long prompt is
compute-bound (``c * tokens`` dominates), the distinction Sarathi-Serve (OSDI'24, §2.2; §3.1, Fig. 6) and
the roofline model draw. The crossover batch is ``t0 / c`` tokens.

Read top-down:
  Hardware / Model      the named defaults (Llama-2-7B in fp16 on one A100-80GB SXM)
  ServingCost           t0, c and the message / driver overheads the simulator charges
  inflight_gain         K batches of B vs one batch of K*B at the same concurrency: (1 + K x) / (1 + x)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ppedu.errors import check_float, check_int


@dataclass(frozen=True)
class Hardware:
    name: str
    hbm_bytes_per_s: float        # memory bandwidth
    flops: float                  # dense fp16/bf16 tensor-core peak


@dataclass(frozen=True)
class Model:
    name: str
    params: float
    bytes_per_param: int = 2      # fp16 / bf16


A100 = Hardware("A100-80GB SXM", 2.039e12, 312e12)       # NVIDIA A100 datasheet (HBM2e, dense FP16)
LLAMA2_7B = Model("Llama-2-7B", 6.74e9)                  # released config (planner: 6,738,415,616); Table 1 says 7B
MFU = 0.5                     # achieved share of peak FLOP/s in big matmuls: an assumption, stated
SLOWDOWN = 3.0                # the timed workload plays each step this much slower than the GPU would,
                              # so a CPU's ~1 ms messages weigh on it as NVLink's ~10 us do on the GPU


def gpu_step_costs(p: int = 2, model: Model = LLAMA2_7B, gpu: Hardware = A100, mfu: float = MFU,
                   slowdown: float = SLOWDOWN) -> tuple[float, float]:
    """(t0, c) in seconds of one of ``p`` equal stages of ``model`` on ``gpu``, ``slowdown`` x slower.

    t0 = weight bytes / p / HBM bandwidth; c = 2 * params / p / (mfu * peak FLOP/s).
    Llama-2-7B on an A100, p = 2, no slowdown: t0 = 3.3 ms, c = 43 us, crossover 77 tokens (76.5).
    """
    check_int("p", p, 1, 1024)
    check_float("mfu", mfu, 0.01, 1.0)
    check_float("slowdown", slowdown, 0.001, 1e6)
    t0 = model.params * model.bytes_per_param / p / gpu.hbm_bytes_per_s
    c = 2 * model.params / p / (mfu * gpu.flops)
    return t0 * slowdown, c * slowdown


_T0, _C = gpu_step_costs()


@dataclass(frozen=True)
class ServingCost:
    """Seconds one stage spends on one iteration: ``step_s(tokens) = t0_s + c_s * tokens``.

    The defaults are ``ServingCost.for_gpu()`` (Llama-2-7B on an A100, p = 2, x SLOWDOWN): the
    ``timed`` workload sleeps this long per step. ``t_hop_s`` (stage -> next stage), ``t_return_s``
    (last stage -> driver), ``t_driver_s`` (rank 0's own work per issued iteration: scheduling,
    packing, sending) and ``t_late_s`` (a sleeping rank wakes up late) are the simulator's
    overheads, never part of the step's price; a real run measures all four
    (``ppedu.serving.calibrate``) so the simulator can be checked against it.
    """
    t0_s: float = _T0             # 9.9 ms
    c_s: float = _C               # 0.13 ms per token
    t_hop_s: float = 0.0005
    t_return_s: float = 0.0005
    t_driver_s: float = 0.0
    t_late_s: float = 0.0         # a real timed step lasts this much longer than its price

    def __post_init__(self):
        for name, value in asdict(self).items():
            check_float(name, value, 0.0, 60.0)

    def step_s(self, tokens: int) -> float:
        """One stage, one iteration carrying ``tokens`` new tokens (prompt chunks + one per decode)."""
        return self.t0_s + self.c_s * tokens

    @property
    def crossover_tokens(self) -> float:
        """Batch size (tokens) at which compute equals the weight read: t0 / c."""
        return self.t0_s / self.c_s if self.c_s > 0 else float("inf")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def for_gpu(cls, p: int = 2, model: Model = LLAMA2_7B, gpu: Hardware = A100, mfu: float = MFU,
                slowdown: float = SLOWDOWN, **overheads: float) -> "ServingCost":
        """The cost of one of ``p`` stages of ``model`` on ``gpu`` (``gpu_step_costs``)."""
        t0, c = gpu_step_costs(p, model, gpu, mfu, slowdown)
        return cls(t0_s=t0, c_s=c, **overheads)


def inflight_gain(k: int, x: float) -> float:
    """Decode throughput of K batches of B requests in flight over one batch of K*B (K <= p).

    x = c * B / t0. One batch: every stage step costs t0 + c K B, and a token per request takes
    p of them. K batches: a step costs t0 + c B and each batch still makes one token per p steps
    of its own, so K*B tokens per p (t0 + c B): gain (t0 + c K B) / (t0 + c B) = (1 + K x) / (1 + x).
    Flat cost (c = 0): no gain. Compute-bound (x -> oo): K times.
    """
    check_int("k", k, 1)
    check_float("x", x, 0.0)
    return (1 + k * x) / (1 + x)
