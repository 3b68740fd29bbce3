"""The plugin's own tests, as its author writes them: helixnet.testing's fixtures, no server.

``pip install -e .`` then ``pytest``: ``run_job`` submits a job and runs it in this process.
"""

from __future__ import annotations

import pytest
from helixnet_wordfreq import WordFreqPlugin

from helixnet import ValidationFailed

TEXT = "apple banana apple\ncherry apple banana an\n"


def test_counts_words(run_job, job_output):
    job = run_job("wordfreq", params={"limit": 2}, inputs={"text": TEXT})
    assert job.status == "SUCCESS", job.error
    assert job.result == {"distinct": 3, "top": [{"word": "apple", "count": 3}, {"word": "banana", "count": 2}]}
    assert job_output(job, "frequencies.csv").decode().splitlines() == ["word,count", "apple,3", "banana,2"]


def test_the_working_copy_runs_without_installing_it(run_job):
    """A class, not a name: what is being edited runs, whatever version is installed."""
    job = run_job(WordFreqPlugin, params={"min_length": 1}, inputs={"text": b"a b a"})
    assert job.result["top"][0] == {"word": "a", "count": 2}


def test_bad_params_name_the_field(run_job):
    with pytest.raises(ValidationFailed) as caught:
        run_job("wordfreq", params={"limit": 0}, inputs={"text": TEXT})
    assert "limit" in str(caught.value.errors)
