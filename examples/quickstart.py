"""Quick start: HelixNet embedded in a script, on zero external services.

    python examples/quickstart.py

Creates ./helixnet-data (SQLite database, SQLite queue, artifact folder), runs one ``textstats``
job through the embedded worker and prints its result.
"""

from __future__ import annotations

import json

from helixnet import HelixNet, Settings

TEXT = b"""HelixNet runs jobs. Jobs read artifacts and write artifacts.
A worker claims a job, runs its plugin, and records the result.
"""


def main() -> None:
    hx = HelixNet(Settings(data_dir="./helixnet-data"))
    hx.start()
    try:
        user = hx.users.get_by_email("demo@example.org") or hx.users.create(
            email="demo@example.org", password="demo password please change"
        )
        artifact = hx.artifacts.create(user, filename="intro.txt", data=TEXT)
        job = hx.jobs.submit(user, "textstats", params={"top": 5}, inputs={"content": artifact.id})
        job = hx.jobs.wait(job.id, timeout=30)
        print(f"job {job.id}: {job.status.value}")
        print(json.dumps(job.result, indent=2))
        for output in job.artifacts:
            print(f"output artifact {output.id}: {output.filename} ({output.size} bytes)")
    finally:
        hx.stop()


if __name__ == "__main__":
    main()
