"""How a serving iteration travels between stage ranks: one fixed-size int32 message per hop.

Why fixed-size: gloo hands a message over only when the receiver has posted a matching receive
(a rendezvous). ``ppedu.runtime.comm`` sends a small header and then the payload; a receiver that does not
know the payload's shape can post the payload receive only after the header arrived -- one more
round trip per hop, milliseconds on a loaded CPU, which would show up as pipeline bubble. Every
message of a run therefore has the same length, known to all ranks in advance, so each stage posts
its next receive (header *and* payload) before it starts computing, and a send finds it waiting.

A message is ``[M, head (M values), body..., padding]``:
  work    (stage s -> s+1)  head = [slot, index, acked, R, F, P, rids, positions, lengths, released]
                            (P: prompt-chunk tokens; F: requests to free),
                            body = the (N, C) float32 activations, bit-cast to int32 (exact);
  result  (last -> rank 0)  head = the R sampled token ids (>= 0), no body;
  control (either channel)  head = [code], a negative code (STOP, HEARTBEAT).
``acked``: every iteration up to it has returned its tokens, so its sends may be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ppedu.runtime import comm
from ppedu.serving.scheduler import BatchingConfig, Iteration
from ppedu.serving.workload import Request

TAG_WORK, TAG_RESULT = 501, 502       # stage -> next stage; last stage -> rank 0
STOP, HEARTBEAT = -1, -2              # control codes (a real head starts with a slot >= 0)


@dataclass(frozen=True)
class Wire:
    """Message capacities of one run, the same on every rank (computed from the same inputs)."""
    work_cap: int
    result_cap: int
    n_embd: int

    @classmethod
    def for_run(cls, requests: list[Request], config: BatchingConfig, n_embd: int) -> "Wire":
        """Upper bounds: an iteration holds at most max_batch requests, each feeding at most the
        token budget, or its whole sequence (a preempted request recomputes prompt + generated);
        between two issues at most every running request (K x max_batch) finishes and a batch's
        worth is preempted."""
        B, K = config.max_batch, config.inflight
        max_tokens = B * max(r.prompt_len + r.output_len for r in requests)
        if config.token_budget is not None:
            max_tokens = min(max_tokens, config.token_budget)
        head = 6 + 3 * B + (K + 1) * B
        return cls(work_cap=1 + head + max_tokens * n_embd, result_cap=1 + B, n_embd=n_embd)

    # -- receives (posted early, with the known size) --------------------------------------------
    def post_work(self, src: int) -> comm.RecvHandle:
        return comm.irecv_tensor(src, TAG_WORK, shape=(self.work_cap,), dtype=torch.int32)

    def post_result(self, src: int) -> comm.RecvHandle:
        return comm.irecv_tensor(src, TAG_RESULT, shape=(self.result_cap,), dtype=torch.int32)

    # -- messages ---------------------------------------------------------------------------------
    def work(self, it: Iteration, acked: int, y: torch.Tensor) -> torch.Tensor:
        head = [it.slot, it.index, acked, len(it.rids), len(it.released), it.prefill_tokens,
                *it.rids, *it.positions, *it.lengths, *it.released]
        bits = y.detach().to(torch.float32).contiguous().view(torch.int32).flatten()
        return self._frame(head, bits, self.work_cap)

    def result(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._frame(tokens.tolist(), None, self.result_cap)

    def control(self, code: int, work: bool = True) -> torch.Tensor:
        return self._frame([code], None, self.work_cap if work else self.result_cap)

    @staticmethod
    def code(msg: torch.Tensor) -> int | None:
        """The control code of a message, or None for work / results."""
        first = int(msg[1])
        return first if int(msg[0]) == 1 and first < 0 else None

    @staticmethod
    def tokens(msg: torch.Tensor) -> list[int]:
        return msg[1:1 + int(msg[0])].tolist()

    def unpack_work(self, msg: torch.Tensor) -> tuple[Iteration, int, torch.Tensor]:
        """(iteration, acked, activations (N, C)) of a work message."""
        M = int(msg[0])
        slot, index, acked, R, F, P, *body = msg[1:1 + M].tolist()
        lengths = body[2 * R:3 * R]
        it = Iteration(index=index, slot=slot, rids=body[:R], positions=body[R:2 * R], lengths=lengths,
                       input_ids=[], released=body[3 * R:3 * R + F], issued_s=0.0, prefill_tokens=P)
        n = sum(lengths) * self.n_embd
        x = msg[1 + M:1 + M + n].contiguous().view(torch.float32).view(-1, self.n_embd)
        return it, acked, x

    @staticmethod
    def _frame(head: list[int], body: torch.Tensor | None, cap: int) -> torch.Tensor:
        out = torch.zeros(cap, dtype=torch.int32)
        n_body = 0 if body is None else body.numel()
        if 1 + len(head) + n_body > cap:     # a bug in Wire.for_run's bounds, never user input
            raise RuntimeError(f"message of {1 + len(head) + n_body} values exceeds capacity {cap}")
        out[0] = len(head)
        out[1:1 + len(head)] = torch.tensor(head, dtype=torch.int32)
        if body is not None:
            out[1 + len(head):1 + len(head) + n_body] = body
        return out
