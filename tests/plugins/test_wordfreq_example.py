"""The example plugin package, really installed (into a folder put on the path, with its metadata)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helixnet import HelixNet, JobStatus, Settings
from helixnet.plugins.registry import discover

pytest_plugins = ["pytester"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin-wordfreq"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True,
    )  # fmt: skip
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m.startswith("helixnet_wordfreq")]:
        del sys.modules[name]


def test_wordfreq_is_discovered_and_runs(installed, tmp_path):
    assert list(installed.glob("helixnet_wordfreq-*.dist-info"))
    assert discover().info("wordfreq").package == "helixnet-wordfreq"
    hx = HelixNet(Settings(data_dir=tmp_path / "hx", bcrypt_rounds=4)).start()
    try:
        user = hx.users.create(email="ada@example.org", password="correct horse battery")
        text = hx.artifacts.create(user, filename="t.txt", data=b"apple banana apple\ncherry apple banana an\n")
        job = hx.jobs.wait(hx.jobs.submit(user, "wordfreq", params={"limit": 2}, inputs={"text": text.id}).id, 30)
        assert job.status == JobStatus.SUCCESS, job.error
        assert job.result == {"distinct": 3, "top": [{"word": "apple", "count": 3}, {"word": "banana", "count": 2}]}
        csv_text = hx.artifacts.read_bytes(job.artifacts[0].id).decode()
        assert csv_text.splitlines() == ["word,count", "apple,3", "banana,2"]
        assert job.result_path == job.artifacts[0].object_name
    finally:
        hx.stop()


def test_the_examples_own_tests_pass_with_helixnet_testing(installed, hx, pytester):
    """examples/plugin-wordfreq/tests as its author runs them, with its own pytest configuration.

    ``hx`` first: HelixNet's modules are imported before pytester snapshots sys.modules (see
    tests/test_testing_plugin.py).
    """
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio", "-c", str(EXAMPLE / "pyproject.toml"),
                                          "--rootdir", str(EXAMPLE), str(EXAMPLE / "tests"))  # fmt: skip
    result.assert_outcomes(passed=3)
