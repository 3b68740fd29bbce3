"""The built-in plugins, found through the same entry points as third-party ones."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from helixnet import JobStatus, PluginError
from helixnet.plugins.registry import discover


def test_builtins_register_through_entry_points():
    names = {ep.name for ep in entry_points(group="helixnet.compute")}
    assert {"echo", "sleep", "textstats", "http", "llm", "shell"} <= names
    registry = discover()
    info = registry.info("textstats")
    assert info.package == "helixnet" and info.entry_point.startswith("textstats = helixnet.plugins")
    # The test-only plugins come from another distribution, through the same group.
    assert registry.info("count").package == "helixnet-testplugins"


def test_describe_gives_json_schema_and_inputs():
    described = discover(["textstats"])["textstats"].describe()
    assert described["params_schema"]["properties"]["top"]["maximum"] == 1000
    assert [i["name"] for i in described["inputs"]] == ["content", "context"]
    assert described["inputs"][1]["required"] is False


def test_unknown_plugin_in_restriction_is_an_error():
    with pytest.raises(PluginError, match="nope"):
        discover(["echo", "nope"])


def test_sleep_reports_progress_and_stops_when_cancelled(hx, user):
    job = hx.jobs.submit(user, "sleep", params={"seconds": 1.2})
    done = hx.jobs.wait(job.id, timeout=30)
    assert done.status == JobStatus.SUCCESS and done.progress == 1.0
    assert 1.2 <= done.result["slept"] < 3


def test_textstats_counts_streams_and_writes_result_json(hx, user):
    text = "Alpha beta beta\ngamma, GAMMA gamma!\n\nnaïve café\n" * 3
    content = hx.artifacts.create(user, filename="t.txt", data=text.encode())
    job = hx.jobs.wait(hx.jobs.submit(user, "textstats", params={"top": 2, "min_length": 2},
                                      inputs={"content": content.id}).id, timeout=30)  # fmt: skip
    assert job.status == JobStatus.SUCCESS
    assert (job.result["lines"], job.result["words"], job.result["characters"]) == (12, 24, len(text))
    assert job.result["top_terms"] == [{"term": "gamma", "count": 9}, {"term": "beta", "count": 6}]
    assert job.result["unique_terms"] == 5 and job.result["shared_terms"] is None
    assert json.loads(hx.artifacts.read_bytes(job.artifacts[0].id)) == job.result


def test_textstats_case_sensitive(hx, user):
    content = hx.artifacts.create(user, filename="t.txt", data=b"The the THE")
    job = hx.jobs.wait(hx.jobs.submit(user, "textstats", params={"case_sensitive": True},
                                      inputs={"content": content.id}).id, timeout=30)  # fmt: skip
    assert job.result["unique_terms"] == 3


def test_issue_12_settings_come_from_the_environment(monkeypatch, make_hx):
    """JSON for the list and the map (commas work for the host list too); the key stays secret."""
    monkeypatch.setenv("HELIXNET_HTTP_ALLOWED_HOSTS", "127.0.0.1:8123, api.example.org")
    monkeypatch.setenv("HELIXNET_SHELL_COMMANDS", '{"count": ["wc", "-l", "{input:content}"]}')
    monkeypatch.setenv("HELIXNET_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HELIXNET_LLM_API_KEY", "sk-secret")
    hx = make_hx(start=False)
    assert hx.settings.http_allowed_hosts == ["127.0.0.1:8123", "api.example.org"]
    assert "sk-secret" not in repr(hx.settings)
    assert {"http", "llm", "shell"} <= set(hx.plugins)
    assert "model" in hx.plugins["llm"].describe()["params_schema"]["required"]
