"""Requests for a serving benchmark: when they arrive, what they say, how much they want back.

Read top-down:
  Request         one request: id, arrival time, prompt token ids, number of tokens to generate
  RequestState    a request while it is served: its slot, tokens fed and generated, its times
  make_workload   n requests, seeded: Poisson arrivals (or all at t=0), prompt/output lengths
  sample_length   fixed | uniform | exponential (capped) | lognormal (capped) lengths

Why the length distribution matters: a static batch runs until its *longest* request is done, so
the more output lengths vary, the more slots sit empty (the Anyscale continuous-batching blog draws
exponential lengths with caps 32..1536 and sees the gain grow with the variance). ``exponential``
is skewed (most requests shorter than the mean) but light-tailed: P(n > 3 x mean) = 5%, and the
cap cuts it further. ``lognormal`` is heavy-tailed (its tail decays slower than any exponential);
``sigma`` sets its spread -- real chat traces' output lengths are often fitted this way -- so
sigma 0.25 .. 1.5 sweeps the variance at a fixed mean.

Arrivals: ``rate`` requests per second with exponential gaps (a Poisson process, what vLLM's
``benchmarks/serve.py`` calls burstiness 1); ``rate=0`` (or None) means everyone arrives at t=0,
an offline batch job. The same seed gives the same workload on every machine.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from ppedu.errors import UsageError, check_choice, check_float, check_int
from ppedu.i18n.messages import _

LENGTH_DISTRIBUTIONS = ("fixed", "uniform", "exponential", "lognormal")


@dataclass(frozen=True)
class Request:
    """One request. ``arrival_s`` counts from the start of the benchmark."""
    rid: int
    arrival_s: float
    prompt: tuple[int, ...]
    output_len: int            # tokens to generate (no EOS: the length is part of the workload)

    @property
    def prompt_len(self) -> int:
        return len(self.prompt)


@dataclass
class RequestState:
    """What the driver knows about a request while it is served. Times count from the start."""
    request: Request
    slot: int = -1
    fed: int = 0                              # tokens in its KV cache (= its next position)
    generated: list[int] = field(default_factory=list)
    admitted_s: float | None = None
    first_token_s: float | None = None
    finish_s: float | None = None
    preemptions: int = 0

    @property
    def known(self) -> list[int]:
        """Every token the model has seen or made: the prompt, then the generated tokens."""
        return list(self.request.prompt) + self.generated

    @property
    def todo(self) -> int:
        """Tokens still to feed before the next token can be sampled (1 while decoding)."""
        return self.request.prompt_len + len(self.generated) - self.fed

    @property
    def decoding(self) -> bool:
        """Past its prompt: feeds one token (its last) per iteration."""
        return bool(self.generated) and self.todo == 1

    @property
    def done(self) -> bool:
        return len(self.generated) >= self.request.output_len



def sample_length(rng: random.Random, dist: str, mean: int, cap: int, sigma: float = 1.0) -> int:
    """One length in 1..cap with the given mean (before capping and rounding up).

    fixed: always ``mean``. uniform: 1 .. 2*mean-1. exponential: about 63% of requests are
    shorter than the mean, 5% longer than 3x the mean, which makes a static batch wait for its
    straggler. lognormal: exp(N(mu, sigma^2)) with mu = ln(mean) - sigma^2/2 (so the mean is
    ``mean``); the median is mean * exp(-sigma^2/2), and the rare long requests are longer still.
    """
    if dist == "fixed":
        n = mean
    elif dist == "uniform":
        n = rng.randint(1, 2 * mean - 1)
    elif dist == "exponential":
        n = math.ceil(rng.expovariate(1.0 / mean))
    else:
        n = math.ceil(rng.lognormvariate(math.log(mean) - sigma ** 2 / 2, sigma))
    return max(1, min(cap, n))


def make_workload(n_requests: int, rate: float | None = None, output_len: int = 16,
                  output_dist: str = "fixed", prompt_len: int = 8, prompt_dist: str = "fixed",
                  max_len: int = 64, seed: int = 0, tokens=None, sigma: float = 1.0) -> list[Request]:
    """``n_requests`` requests sorted by arrival, a pure function of the arguments.

    Args:
        rate: mean arrivals per second (Poisson); None or 0: all arrive at t=0.
        output_len, prompt_len: mean lengths in tokens; ``*_dist`` in LENGTH_DISTRIBUTIONS.
        sigma: spread of the lognormal distribution (log-space standard deviation).
        max_len: cap on prompt + output tokens (the model's block_size when it really runs).
        tokens: 1-D tensor or list of token ids prompts are cut from (default: the shipped corpus).
    """
    check_int("n_requests", n_requests, 1)
    rate = 0.0 if rate is None else check_float("rate", rate, 0.0)
    check_choice("output_dist", output_dist, LENGTH_DISTRIBUTIONS)
    check_choice("prompt_dist", prompt_dist, LENGTH_DISTRIBUTIONS)
    check_int("max_len", max_len, 2)
    check_int("prompt_len", prompt_len, 1, max_len - 1)
    check_int("output_len", output_len, 1, max_len - 1)
    check_int("seed", seed, 0)
    check_float("sigma", sigma, 0.0, 4.0)
    if tokens is None:
        from ppedu.model.corpus import corpus_tokens  # torch: the scheduler and simulator run without it
        tokens = corpus_tokens()
    tokens = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
    if len(tokens) < max_len:
        raise UsageError(_("tokens must hold at least max_len={max_len} ids (got {n})").format(
            max_len=max_len, n=len(tokens)))
    # Separate streams so changing the rate keeps the same prompts and lengths.
    arrivals_rng, lengths_rng, text_rng = (random.Random(f"{seed}:{k}") for k in ("arrival", "len", "text"))
    requests, t = [], 0.0
    for rid in range(n_requests):
        if rate > 0:
            t += arrivals_rng.expovariate(rate)          # exponential gaps = Poisson arrivals
        n_prompt = sample_length(lengths_rng, prompt_dist, prompt_len, max_len - 1, sigma)
        n_out = sample_length(lengths_rng, output_dist, output_len, max_len - n_prompt, sigma)
        start = text_rng.randrange(len(tokens) - n_prompt)
        requests.append(Request(rid, t, tuple(tokens[start:start + n_prompt]), n_out))
    return requests


def describe(requests: list[Request]) -> dict:
    """Summary numbers of a workload (for notebooks and the CLI)."""
    outs = sorted(r.output_len for r in requests)
    prompts = [r.prompt_len for r in requests]
    return {"requests": len(requests), "output_tokens": sum(outs),
            "output_len_mean": sum(outs) / len(outs), "output_len_max": outs[-1],
            "output_len_p50": outs[len(outs) // 2],
            "output_len_cv": _cv(outs),
            "prompt_len_mean": sum(prompts) / len(prompts),
            "duration_of_arrivals_s": max(r.arrival_s for r in requests)}


def _cv(xs: list[int]) -> float:
    """Coefficient of variation (standard deviation / mean): the spread static batching pays for."""
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs)) / mean
