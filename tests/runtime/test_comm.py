"""Point-to-point messages: headers make any shape/dtype arrive intact; counters are exact."""

from __future__ import annotations

import pytest
import torch

from ppedu.runtime import comm, diagnostics


TENSORS = [
    torch.arange(7, dtype=torch.float32),
    torch.randn(3, 4, 5, dtype=torch.float64),
    torch.ones(2, 3, dtype=torch.bfloat16),
    torch.arange(12, dtype=torch.int64).reshape(2, 2, 3),
    torch.tensor([True, False, True]),
    torch.zeros(1, 1, 1, 1, 1, 2, dtype=torch.int8),
    torch.tensor(3.5),  # 0-d
]


@pytest.mark.ranks
def test_roundtrip_shapes_dtypes_and_counters(cluster2):
    out = cluster2.run(diagnostics.roundtrip, TENSORS)
    for sent, echoed in zip(TENSORS, out[0].echoed):
        assert echoed.dtype == sent.dtype and echoed.shape == sent.shape
        assert torch.equal(echoed, sent)
    payload = sum(t.numel() * t.element_size() for t in TENSORS)
    for rank, peer in ((0, 1), (1, 0)):
        stats = out[rank].stats
        assert stats.sent[peer] == comm.Traffic(messages=len(TENSORS), bytes=payload)
        assert stats.received[peer] == comm.Traffic(messages=len(TENSORS), bytes=payload)
        assert stats.header_bytes == 2 * len(TENSORS) * comm.HEADER_BYTES


@pytest.mark.ranks
def test_headerless_messages_arrive_intact_and_send_no_header(cluster2):
    out = cluster2.run(diagnostics.roundtrip, TENSORS, header=False)
    for sent, echoed in zip(TENSORS, out[0].echoed):
        assert echoed.dtype == sent.dtype and torch.equal(echoed, sent)
    for rank in (0, 1):
        assert out[rank].stats.sent[1 - rank].messages == len(TENSORS)
        assert out[rank].stats.header_bytes == 0
        # The time inside the calls that start messages is part of each round trip, never more.
        assert 0 < out[rank].stats.start_s < sum(out[rank].seconds)


def test_headerless_receive_refuses_an_emulated_link():
    comm.set_link_model(latency_ms=1.0)
    try:  # the link delay needs the send time that only the header carries
        with pytest.raises(ValueError, match="emulated link"):
            comm.irecv_tensor(1, shape=(4,), header=False)
    finally:
        comm.set_link_model()
    with pytest.raises(ValueError, match="shape"):
        comm.irecv_tensor(1, header=False)


@pytest.mark.ranks
def test_link_model_adds_the_configured_delay(cluster2):
    tensors = [torch.zeros(1000)] * 3
    fast = cluster2.run(diagnostics.roundtrip, tensors)[0].seconds
    slow = cluster2.run(diagnostics.roundtrip, tensors, latency_ms=30.0)[0].seconds
    for f, s in zip(fast, slow):
        assert s >= 0.0599  # two hops, each held until 30 ms after it was sent
        assert s - f <= 0.25  # and not much more (generous: 2 shared cores)
    # bandwidth term: 4 MB at 0.1 GB/s = 40 ms per hop
    big = [torch.zeros(1_000_000)]
    slow_bw = cluster2.run(diagnostics.roundtrip, big, bandwidth_gbps=0.1)[0].seconds[0]
    fast_bw = cluster2.run(diagnostics.roundtrip, big)[0].seconds[0]
    assert slow_bw >= 0.0799 and slow_bw - fast_bw <= 0.4


def test_link_model_rejects_bad_values():
    from ppedu.errors import UsageError
    with pytest.raises(UsageError, match="latency_ms"):
        comm.set_link_model(latency_ms=-1)
    with pytest.raises(UsageError, match="bandwidth_gbps"):
        comm.set_link_model(bandwidth_gbps=0)
    comm.set_link_model()
