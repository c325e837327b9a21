"""Pipeline training steps as plain loops: what one rank does, every send and receive in sight.

These are the loops of picotron's ``train_step_pipeline_afab`` / ``train_step_pipeline_1f1b``
written against ``ppedu.training.stage.Stage`` (the one ``ppedu train`` drives, and the lab with its
checks), and the reference solutions of chapter 6 ("build your pipeline"). Each function runs on
*one* rank; all ranks run it at once.

    stage.recv_forward(mb)      activations of micro-batch mb from the previous rank (None on the first)
    stage.forward(mb, x)        run this rank's layers; the last rank returns the loss
    stage.send_forward(mb, y)   activations to the next rank (nothing on the last)
    stage.recv_backward(mb)     gradient of this rank's output from the next rank (None on the last)
    stage.backward(mb, g)       backward through this rank's layers (the last starts from loss / m)
    stage.send_backward(mb, g)  gradient of this rank's input to the previous rank (nothing on the first)

Sends return at once (the message leaves in the background, like ``torch.distributed.isend``);
receives block until the message is there. That is the execution model of
``ppedu.schedules.validator``: a schedule it accepts cannot deadlock here.
Every rank's order of ``forward``/``backward`` calls equals ``build_schedule(name, p, m).ranks[rank]``
(``tests/training/test_loops.py`` checks it on real ranks, with gradients against a single-process model).
"""

from __future__ import annotations


def train_step_afab(stage) -> None:
    """GPipe / all-forward-all-backward (Huang et al. 2019): every forward, then every backward.

    Simple, and the bubble is 1F1B's, (p-1)/(m+p-1); but each rank holds the activations of all m
    micro-batches until the backward phase reaches them.
    """
    m = stage.num_microbatches
    # forward phase: micro-batches 0..m-1 flow down the pipe, each rank keeps what backward needs
    for mb in range(m):
        x = stage.recv_forward(mb)          # blocks until rank - 1 has sent it (None on rank 0)
        y = stage.forward(mb, x)            # the last rank gets the loss of micro-batch mb
        stage.send_forward(mb, y)           # to rank + 1 (no-op on the last rank)
    # backward phase: gradients flow back up, in the same micro-batch order
    for mb in range(m):
        g = stage.recv_backward(mb)         # gradient of our output (None on the last rank)
        g_in = stage.backward(mb, g)        # the last rank starts from loss / m
        stage.send_backward(mb, g_in)       # to rank - 1 (no-op on rank 0)


def train_step_1f1b(stage) -> None:
    """1F1B (PipeDream-flush, Narayanan et al., ICML 2021; picotron's ``train_step_pipeline_1f1b``).

    Rank r runs p - r - 1 forwards ahead (warm-up), just enough to keep the ranks after it busy,
    then alternates one forward and one backward (steady state), then drains the remaining
    backwards (cool-down). A backward frees a micro-batch's activations, so rank r never holds
    more than p - r of them, against m for AFAB; the bubble is the same.
    """
    p, rank, m = stage.world_size, stage.rank, stage.num_microbatches
    warmup = max(0, min(p - rank - 1, m))   # forwards in flight before the first backward
    # warm-up: forwards only
    for mb in range(warmup):
        x = stage.recv_forward(mb)
        y = stage.forward(mb, x)
        stage.send_forward(mb, y)
    # steady state: forward of micro-batch `fwd`, then backward of the oldest one in flight
    for i in range(m - warmup):
        fwd, bwd = warmup + i, i
        x = stage.recv_forward(fwd)
        y = stage.forward(fwd, x)
        stage.send_forward(fwd, y)
        g = stage.recv_backward(bwd)        # rank + 1 ran backward(bwd) after our send above
        g_in = stage.backward(bwd, g)
        stage.send_backward(bwd, g_in)
    # cool-down: the warm-up's micro-batches still wait for their backward
    for bwd in range(m - warmup, m):
        g = stage.recv_backward(bwd)
        g_in = stage.backward(bwd, g)
        stage.send_backward(bwd, g_in)


def train_step_interleaved(stage) -> None:
    """Interleaved 1F1B with ``stage.num_chunks`` model chunks per rank (Narayanan et al. SC'21,
    Megatron-LM ``forward_backward_pipelining_with_interleaving``).

    Chunk c of rank r is virtual stage c * p + r, so a micro-batch visits every rank v times.
    Forwards go in groups of p micro-batches per chunk (chunk 0 for mb 0..p-1, chunk 1 for the
    same mbs, then the next p mbs); backwards walk the chunks in reverse. The warm-up is longer,
    2(p - r - 1) + (v - 1)p forwards, and the bubble shrinks v times. Needs m % p == 0.
    """
    p, rank, m, v = stage.world_size, stage.rank, stage.num_microbatches, stage.num_chunks
    total = m * v                           # (micro-batch, chunk) pairs this rank works on

    def forward_order(k: int) -> tuple[int, int]:   # k-th forward of this rank -> (mb, chunk)
        group, within = divmod(k, p * v)
        return group * p + k % p, within // p

    def backward_order(k: int) -> tuple[int, int]:  # backwards visit the chunks last-to-first
        mb, chunk = forward_order(k)
        return mb, v - 1 - chunk

    def one_forward(mb: int, chunk: int) -> None:
        x = stage.recv_forward(mb, chunk)   # from the previous virtual stage (maybe this rank's
        y = stage.forward(mb, x, chunk)     # other chunk, on rank p - 1 -> 0 wrap-around)
        stage.send_forward(mb, y, chunk)

    def one_backward(mb: int, chunk: int) -> None:
        g = stage.recv_backward(mb, chunk)
        g_in = stage.backward(mb, g, chunk)
        stage.send_backward(mb, g_in, chunk)

    warmup = min(2 * (p - rank - 1) + (v - 1) * p, total)
    for k in range(warmup):                 # warm-up
        one_forward(*forward_order(k))
    for k in range(total - warmup):         # steady state: one forward, one backward
        one_forward(*forward_order(warmup + k))
        one_backward(*backward_order(k))
    for k in range(total - warmup, total):  # cool-down
        one_backward(*backward_order(k))


LOOPS = {"afab": train_step_afab, "1f1b": train_step_1f1b, "interleaved": train_step_interleaved}
