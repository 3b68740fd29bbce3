"""The distributed half of ``benchmarks/throughput.py``: HelixNet on PostgreSQL (+ Redis) against Celery and huey."""
