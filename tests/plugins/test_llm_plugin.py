"""The ``llm`` plugin through a real worker against a small OpenAI-compatible server on 127.0.0.1.

The server speaks the chat-completions protocol with streaming (server-sent ``data:`` lines);
its behaviour is chosen by the requested model name, so one server serves every test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from helixnet import JobStatus

KEY = "sk-test-0123456789"
WORDS = ["The", " answer", " is", " forty", "-two", "."]


class _Chat(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: list[dict[str, Any]] = []
    release = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body["model"]
        earlier = sum(1 for r in self.requests if r["body"]["model"] == model)
        self.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body,
                              "at": time.monotonic()})  # fmt: skip
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": "no such route"}})
        if model == "refuses-key":
            return self._json(401, {"error": {"message": f"Incorrect API key provided: {KEY}"}})
        if model == "busy-once" and earlier == 0:
            return self._json(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.3"})
        if model == "broken":
            return self._json(500, {"error": {"message": "the model crashed"}})
        if model == "slow":
            time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": f"{model}-2026"}
        self._event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        for index, word in enumerate(WORDS):
            if model == "paced" and index == 3:
                self.release.wait(10)
            self._event({**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
        self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if model != "no-usage" and body.get("stream_options", {}).get("include_usage"):
            self._event({**base, "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 6,
                                                          "total_tokens": 17}})  # fmt: skip
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, chunk: dict[str, Any]) -> None:
        self.wfile.write(b": keep-alive comment\n\ndata: " + json.dumps(chunk).encode() + b"\n\n")
        self.wfile.flush()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what the timeout test asks for


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Chat)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    _Chat.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def llm(make_hx: Any, endpoint: str) -> Any:
    """An instance configured for the test endpoint, a user and a content artifact."""
    hx = make_hx(llm_base_url=endpoint, llm_api_key=KEY, llm_timeout_seconds=0.4, llm_max_attempts=3,
                 llm_retry_backoff_seconds=0.01, llm_model="default-model")  # fmt: skip
    user = hx.users.create(email="llm@example.org", password="correct horse battery")
    content = hx.artifacts.create(user, filename="q.txt", data=b"What is the answer?")
    return hx, user, content


def _ask(hx: Any, user: Any, content: Any, wait: bool = True, **params: Any) -> Any:
    job = hx.jobs.submit(user, "llm", params=params, inputs={"content": content.id})
    return hx.jobs.wait(job.id, timeout=30) if wait else job


def _sent(model: str) -> list[dict[str, Any]]:
    return [r for r in _Chat.requests if r["body"]["model"] == model]


def test_streamed_answer_usage_and_bearer_key(llm: Any) -> None:
    hx, user, content = llm
    job = _ask(hx, user, content, model="ok", system="Be brief.", temperature=0.2, max_tokens=50)
    assert job.status == JobStatus.SUCCESS, job.error
    expected = {"answer": "The answer is forty-two.", "model": "ok-2026", "finish_reason": "stop",
                "usage": {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17}}  # fmt: skip
    assert job.result == expected and job.progress == 1.0
    assert json.loads(hx.artifacts.read_bytes(job.artifacts[0].id)) == expected
    (request,) = _sent("ok")
    assert request["auth"] == f"Bearer {KEY}"
    body = request["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["max_tokens"]) == (0.2, 50)
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "What is the answer?"}]  # fmt: skip
    assert not any(KEY in event.message for event in hx.jobs.events(job.id))


def test_context_input_is_in_the_prompt_and_usage_is_counted_without_a_usage_chunk(llm: Any) -> None:
    hx, user, content = llm
    context = hx.artifacts.create(user, filename="c.txt", data=b"Deep Thought computed 42.")
    job = hx.jobs.wait(hx.jobs.submit(user, "llm", params={"model": "no-usage"},
                                      inputs={"content": content.id, "context": context.id}).id, timeout=30)  # fmt: skip
    assert job.status == JobStatus.SUCCESS, job.error
    (prompt,) = [m["content"] for m in _sent("no-usage")[0]["body"]["messages"]]
    assert "Deep Thought computed 42." in prompt and prompt.endswith("What is the answer?")
    assert job.result["usage"]["completion_tokens"] == len(WORDS) and job.result["usage"]["estimated"] is True


def test_default_model_from_settings(llm: Any) -> None:
    hx, user, content = llm
    job = _ask(hx, user, content)
    assert job.status == JobStatus.SUCCESS and _sent("default-model")


def test_progress_while_tokens_arrive_then_cancel_between_chunks(llm: Any) -> None:
    hx, user, content = llm
    _Chat.release.clear()
    job = _ask(hx, user, content, wait=False, model="paced")
    deadline = time.monotonic() + 10
    # The runner merges progress writes 0.25 s apart: the first token's lands, the next ones may not.
    while not (seen := hx.jobs.get(job.id)).message and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen.message in ("1 token", "2 tokens", "3 tokens") and 0 < seen.progress < 1
    hx.jobs.cancel(job.id)
    _Chat.release.set()
    assert hx.jobs.wait(job.id, timeout=10).status == JobStatus.CANCELLED


def test_refused_key_is_a_clear_error_without_retry_or_secret(llm: Any) -> None:
    hx, user, content = llm
    job = _ask(hx, user, content, model="refuses-key")
    assert job.status == JobStatus.FAILURE
    assert job.error.startswith("the LLM endpoint refused the API key (401)") and KEY not in job.error
    assert len(_sent("refuses-key")) == 1
    # JobFailed: no job-level retry either, however many attempts the job was given.
    again = hx.jobs.submit(user, "llm", params={"model": "refuses-key"}, inputs={"content": content.id}, max_retries=3)
    done = hx.jobs.wait(again.id, timeout=30)
    assert (done.status, done.attempts) == (JobStatus.FAILURE, 1) and len(_sent("refuses-key")) == 2


def test_429_is_retried_after_retry_after_and_500s_are_given_up(llm: Any) -> None:
    hx, user, content = llm
    job = _ask(hx, user, content, model="busy-once")
    assert job.status == JobStatus.SUCCESS, job.error
    first, second = _sent("busy-once")
    assert second["at"] - first["at"] >= 0.3  # Retry-After: 0.3 won over the 0.01 s back-off
    broken = _ask(hx, user, content, model="broken")
    assert broken.status == JobStatus.FAILURE and "answered 500; gave up after 3 attempt(s)" in broken.error
    assert len(_sent("broken")) == 3


def test_timeout_is_a_clear_error(llm: Any) -> None:
    hx, user, content = llm
    job = _ask(hx, user, content, model="slow")
    assert job.status == JobStatus.FAILURE
    assert "did not answer within 0.4 s (HELIXNET_LLM_TIMEOUT_SECONDS)" in job.error


def test_not_offered_without_a_base_url(hx: Any) -> None:
    assert "llm" not in hx.plugins and "http" in hx.plugins
