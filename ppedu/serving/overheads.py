"""What a measured serving run paid beside its stage steps, as records: every sample of each
overhead (``OverheadSamples``), their trimmed means (``Overheads``) and the step cost fitted through
the run's steps (``StepFit``). ``ppedu.serving.calibrate`` measures them from a run's timeline,
``ServingResult`` carries them, the simulator draws from the samples. Seconds throughout.

    hop_s     stage s-1 finished -> stage s started (an idle stage s)
    return_s  the last stage finished -> rank 0 started its next step
    driver_s  rank 0 finished a step -> started the next one at once
    late_s    timed steps: how much longer a step lasted than its price
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Overheads:
    """A real run's overheads (``calibrate.measured_overheads``); None where nothing measured one."""
    hop_s: float | None
    return_s: float | None
    driver_s: float | None
    late_s: float | None


@dataclass(frozen=True)
class OverheadSamples:
    """Every measured sample of each overhead, in run order (``calibrate.overhead_samples``; not in
    the JSON report): the simulator draws from them instead of paying the mean."""
    hop_s: list[float] = field(default_factory=list)
    return_s: list[float] = field(default_factory=list)
    driver_s: list[float] = field(default_factory=list)
    late_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class StepFit:
    """Least-squares ``t0 + c * tokens`` through a run's stage steps (None: too few steps)."""
    t0_s: float | None
    c_s: float | None
