"""The tables the distributed benchmark prints."""

from __future__ import annotations

import statistics
from typing import Any

GOALS = {"celery": 1.0, "celery+db": 1.0, "huey": 0.5}


def _median(runs: list[Any], attr: str) -> float:
    return statistics.median(getattr(run, attr) for run in runs)


def print_report(args: Any, helix: list[Any], baselines: list[Any], results: dict[tuple[int, str], list[Any]],
                 latency: dict[str, list[float]], commits: dict[int, dict[str, float]]) -> None:  # fmt: skip
    n = args.jobs
    print(f"\nThroughput: {n} no-op jobs submitted from one process and drained, median of {args.repeat} "
          "interleaved runs (jobs/s; submit seconds in brackets)")  # fmt: skip
    base_names = [b.name for b in baselines]
    print(f"{'workers':>7} | " + " | ".join(f"{name:>16}" for name in base_names))
    for procs in args.procs:
        cells = []
        for name in base_names:
            runs = results[(procs, f"{name} loop")]
            cells.append(f"{_median(runs, 'jobs_per_s'):>7.0f} ({_median(runs, 'submit_s'):.2f} s)")
        print(f"{procs:>7} | " + " | ".join(f"{c:>16}" for c in cells))
    print(f"\n{'workers':>7} | {'helixnet':<35} | {'jobs/s':>6} | {'submit':>7} | "
          + " | ".join(f"/{name:<9}" for name in base_names) + " | goals /celery>=1 /celery+db>=1 /huey>=0.5")  # fmt: skip
    for procs in args.procs:
        for system in helix:
            for mode in ("loop", "many"):
                runs = results[(procs, f"{system.name} {mode}")]
                ours = _median(runs, "jobs_per_s")
                label = f"{system.name} {'submit loop' if mode == 'loop' else 'submit_many'}"
                ratios, misses = [], []
                for name in base_names:
                    ratio = ours / _median(results[(procs, f"{name} loop")], "jobs_per_s")
                    ratios.append(f"{ratio:>10.2f}")
                    if ratio < GOALS[name]:
                        misses.append(name)
                verdict = "ok" if not misses else "MISS " + ",".join(misses)
                print(f"{procs:>7} | {label:<35} | {ours:>6.0f} | {_median(runs, 'submit_s'):>5.2f} s | "
                      + " | ".join(ratios) + f" | {verdict}")  # fmt: skip

    if latency:
        print(f"\nSubmit-to-RUNNING with one idle worker process, ms ({args.samples} samples each)")
        print(f"{'system':<28} | {'median':>7} | {'p90':>7} | {'max':>7} | goal median < 10 (helixnet)")
        for name, values in latency.items():
            p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
            print(f"{name:<28} | {statistics.median(values):>7.2f} | {p90:>7.2f} | {max(values):>7.2f} |")

    print("\nPostgreSQL work per HelixNet job (counted with SQLAlchemy engine events)")
    print(f"{'where':<44} | {'statements':>10} | {'commits':>7}")
    for system in helix:
        for mode in ("loop", "many"):
            runs = [r for procs in args.procs for r in results[(procs, f"{system.name} {mode}")]]
            stmts = statistics.median(r.statements for r in runs) / n
            txs = statistics.median(r.commits for r in runs) / n
            print(f"{system.name + ' submitter, ' + mode:<44} | {stmts:>10.2f} | {txs:>7.2f}")
        done = max(system.jobs_done, 1)
        wc = system.worker_counts
        print(f"{system.name + ' workers (all runs, idle work included)':<44} | {wc['statements'] / done:>10.2f} | "
              f"{wc['commits'] / done:>7.2f}")  # fmt: skip
    for procs, figures in commits.items():
        print(f"pg_stat_database xact_commit per job, {procs} worker(s), every process: {figures['xact_per_job']:.2f}")

    print("\nCPU seconds per 1000 jobs during the runs (median; redis-server is shared with other users)")
    groups = ("postgres", "redis", "consumers", "submitter")
    print(f"{'workers':>7} | {'system':<34} | " + " | ".join(f"{g:>9}" for g in groups) + " | wall s")
    for procs in args.procs:
        for system in [*helix, *baselines]:
            for mode in ("loop", "many") if system in helix else ("loop",):
                runs = results[(procs, f"{system.name} {mode}")]
                cells = [statistics.median(r.cpu.get(g, 0.0) for r in runs) * 1000 / n for g in groups]
                wall = n / _median(runs, "jobs_per_s")
                print(f"{procs:>7} | {system.name + ' ' + mode:<34} | " + " | ".join(f"{c:>9.2f}" for c in cells)
                      + f" | {wall:.2f}")  # fmt: skip
