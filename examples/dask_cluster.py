"""A plugin on a Dask cluster: one heavy job spread over many cores (or machines).

    pip install distributed        # or: pip install -e ".[dask]"
    python examples/dask_cluster.py [--scheduler tcp://10.0.0.5:8786]

Without ``--scheduler`` it starts a ``distributed.LocalCluster`` on 127.0.0.1 (two worker
processes). The HelixNet worker claims the job, heart-beats it and records the outcome; the
plugin's ``run`` executes on the cluster, where it fans its own work out to the cluster's
workers. Inputs and outputs travel through storage (a folder here; S3 for a real cluster, with the
workers' own AWS credentials), never through the scheduler.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

from pydantic import BaseModel, Field

from helixnet import ComputePlugin, HelixNet, JobContext, Settings


class PrimeParams(BaseModel):
    limit: int = Field(default=200_000, ge=10, le=50_000_000, description="Count primes below this.")
    chunks: int = Field(default=8, ge=1, le=1000, description="Pieces the range is cut into on the cluster.")


def count_primes(lo: int, hi: int) -> int:
    """Trial division: deliberately CPU-bound."""
    count = 0
    for n in range(max(lo, 2), hi):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            count += 1
    return count


class PrimeCount(ComputePlugin):
    name = "primes"
    title = "Count primes on a Dask cluster"
    Params = PrimeParams

    def run(self, ctx: JobContext, params: PrimeParams) -> dict[str, Any]:
        from distributed import as_completed, get_client

        client = get_client()  # the cluster this task runs on: fan out further from here
        step = -(-params.limit // params.chunks)
        futures = [client.submit(count_primes, lo, min(lo + step, params.limit)) for lo in range(0, params.limit, step)]
        total = 0
        for done, future in enumerate(as_completed(futures), start=1):
            ctx.check_cancelled()
            total += future.result()
            ctx.progress(done / len(futures), f"{done} of {len(futures)} chunks")
        ctx.log.info(f"{len(futures)} chunks on {len(client.scheduler_info()['workers'])} Dask worker(s)")
        result = {"limit": params.limit, "primes": total}
        ctx.outputs.write_json("primes.json", result, main=True)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="an existing cluster, tcp://host:port (default: a LocalCluster)")
    parser.add_argument("--limit", type=int, default=200_000)
    args = parser.parse_args()

    from distributed import LocalCluster

    cluster = None
    address = args.scheduler
    if address is None:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0")
        address = cluster.scheduler_address
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=data_dir, executors={"primes": "dask://" + address.removeprefix("tcp://")})
        hx = HelixNet(settings)
        hx.plugins.add(PrimeCount)  # an installed plugin would come through its entry point instead
        hx.start()
        try:
            user = hx.users.create(email="demo@example.org", password="demo password please change")
            job = hx.jobs.submit(user, "primes", params={"limit": args.limit})
            job = hx.jobs.wait(job.id, timeout=600)
            print(f"job {job.id}: {job.status.value}")
            print(json.dumps(job.result if job.result is not None else {"error": job.error}, indent=2))
            for event in hx.jobs.events(job.id, user):
                print(f"  {event.level:<7} {event.message}")
        finally:
            hx.stop()
            if cluster is not None:
                cluster.close()


if __name__ == "__main__":
    main()
