"""`ppedu doctor`: what this machine can run, and whether -p ranks would oversubscribe the CPU."""

from __future__ import annotations

import argparse
import json
import platform
import time

from ppedu.errors import check_int
from ppedu.runtime.worker import cpu_cores, resolve_backend
from ppedu.runtime.cluster import MAX_WORLD_SIZE, get_cluster
from ppedu.i18n.messages import _


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", type=int, default=4, help=_("pipeline ranks you plan to use (default 4)"))
    parser.add_argument("--start-cluster", action="store_true",
                        help=_("also start -p ranks, run a ring exchange and report the timings"))
    parser.add_argument("--json", action="store_true", help=_("print one JSON object"))


def report(p: int = 4, start_cluster: bool = False) -> dict:
    """Facts about this machine for a pipeline of ``p`` ranks (a dict, also used by notebook 00)."""
    import torch
    import torch.distributed as dist

    p = check_int("p", p, 1, MAX_WORLD_SIZE)       # the most ranks a cluster starts
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    backend = resolve_backend("auto", p)
    info = {
        "python": platform.python_version(), "torch": torch.__version__,
        "gloo": dist.is_gloo_available(), "nccl": dist.is_nccl_available(),
        "cpu_cores": cpu_cores(), "gpus": gpus,
        "gpu_names": [torch.cuda.get_device_name(i) for i in range(gpus)],
        "p": p, "backend_for_p": backend,
        "oversubscribed": backend == "gloo" and p > cpu_cores(),
    }
    if start_cluster:
        from ppedu.runtime import diagnostics  # torch: kept out of `ppedu doctor --help`
        start = time.perf_counter()
        cluster = get_cluster(p)
        info["cluster_start_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        cluster.run(diagnostics.ring_exchange)
        info["warm_job_s"] = round(time.perf_counter() - start, 4)
    return info


def run(args: argparse.Namespace) -> int:
    info = report(args.p, args.start_cluster)
    if args.json:
        print(json.dumps(info))
        return 0
    yes = {True: _("yes"), False: _("no")}
    print(_("python {python}, torch {torch}").format(**info))
    print(_("backends: gloo {gloo}, nccl {nccl}").format(gloo=yes[info["gloo"]], nccl=yes[info["nccl"]]))
    print(_("CPU cores: {cores}, GPUs: {gpus} {names}").format(
        cores=info["cpu_cores"], gpus=info["gpus"], names=" ".join(info["gpu_names"])))
    print(_("-p {p} would use {backend}").format(p=info["p"], backend=info["backend_for_p"]))
    if info["oversubscribed"]:
        print(_("note: {p} ranks on {cores} cores oversubscribe the CPU: real-compute timings are "
                "distorted; the `timed` workload (fixed waits, like GPU kernels) still measures "
                "bubbles faithfully.").format(p=info["p"], cores=info["cpu_cores"]))
    if "cluster_start_s" in info:
        print(_("cluster start {start} s, warm ring exchange {ring} s").format(
            start=info["cluster_start_s"], ring=info["warm_job_s"]))
    print("ok")
    return 0
