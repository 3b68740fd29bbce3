"""``llm``: send a text (and an optional context) to an OpenAI-compatible chat-completions endpoint.

Settings: ``HELIXNET_LLM_BASE_URL`` (as OpenAI clients take it, e.g. ``http://127.0.0.1:8080/v1``;
the plugin POSTs ``{base}/chat/completions``; unset: the plugin is not offered, since every job
could only fail), ``HELIXNET_LLM_API_KEY`` (sent as ``Authorization: Bearer``, never logged nor put
in an error), ``HELIXNET_LLM_MODEL`` (the default of ``params.model``), ``HELIXNET_LLM_TIMEOUT_SECONDS``,
and the retry knobs ``HELIXNET_LLM_MAX_ATTEMPTS``, ``HELIXNET_LLM_RETRY_BACKOFF_SECONDS`` and
``HELIXNET_LLM_RETRY_MAX_DELAY_SECONDS``.

The answer is streamed (``"stream": true``, server-sent ``data:`` lines up to ``data: [DONE]``):
progress rises as tokens arrive and a cancel is seen between chunks. 401/403 fail at once (a key
no retry can fix); 429, 5xx and refused connections are tried again with exponential back-off,
honouring Retry-After, up to the attempts allowed. The endpoint is the admin's, so unlike the http
plugin it is not checked against an allow-list, and the usual proxy variables apply.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, create_model

from helixnet import ComputePlugin, ConfigurationError, InputSpec, JobContext, JobFailed, PluginError, Settings

#: Without max_tokens, progress is tokens / (tokens + this): rising, never 1 before the end.
PROGRESS_HALF_AT = 200
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class LlmParams(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(min_length=1, max_length=256, description="The model the endpoint should use.")
    system: str | None = Field(default=None, max_length=100_000, description="A system prompt, sent first.")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature (endpoint default).")
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000, description="Longest answer, in tokens.")


class LlmPlugin(ComputePlugin):
    name = "llm"
    title = "LLM chat completion"
    description = (
        "Sends the content input (and an optional context input) to the OpenAI-compatible endpoint the admin "
        "configured (HELIXNET_LLM_BASE_URL); writes result.json with the answer, model, usage and finish reason."
    )
    Params = LlmParams
    inputs = (
        InputSpec(name="content", description="The prompt (UTF-8 text)."),
        InputSpec(name="context", required=False, description="Material the answer should draw on (UTF-8 text)."),
    )

    def __init__(self) -> None:
        self._url = ""
        self._key: str | None = None
        self._timeout = 120.0
        self._attempts = 4
        self._backoff = 1.0
        self._max_delay = 30.0

    def configure(self, settings: Settings) -> bool:
        """Offered only with HELIXNET_LLM_BASE_URL set; HELIXNET_LLM_MODEL makes params.model optional."""
        if not settings.llm_base_url:
            return False
        if urlsplit(settings.llm_base_url).scheme not in ("http", "https"):
            raise ConfigurationError(
                "HELIXNET_LLM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8080/v1",
                errors=[{"loc": ["llm_base_url"], "msg": "must be an http(s) URL"}],
            )
        self._url = settings.llm_base_url.rstrip("/") + "/chat/completions"
        self._key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        self._timeout = settings.llm_timeout_seconds
        self._attempts = settings.llm_max_attempts
        self._backoff = settings.llm_retry_backoff_seconds
        self._max_delay = settings.llm_retry_max_delay_seconds
        if settings.llm_model:
            default = Field(default=settings.llm_model, min_length=1, max_length=256,
                            description=f"The model the endpoint should use (default {settings.llm_model}).")  # fmt: skip
            self.Params = create_model("LlmParams", __base__=LlmParams, model=(str, default))  # type: ignore[misc]
        return True

    def run(self, ctx: JobContext, params: LlmParams) -> dict[str, Any]:
        prompt = ctx.inputs["content"].read_text()
        if "context" in ctx.inputs:
            prompt = f"Context:\n{ctx.inputs['context'].read_text()}\n\n---\n\n{prompt}"
        messages = [{"role": "system", "content": params.system}] if params.system else []
        messages.append({"role": "user", "content": prompt})
        body: dict[str, Any] = {"model": params.model, "messages": messages, "stream": True,
                                "stream_options": {"include_usage": True}}  # fmt: skip
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        headers = {"Accept": "text/event-stream"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        ctx.log.info(f"asking {params.model} at {_display(self._url)}")
        result = self._call(ctx, body, headers, params)
        result.setdefault("model", params.model)
        if result["usage"] is None:  # the endpoint sent none: counted here (one content chunk ~ one token)
            prompt_tokens = sum(len(m["content"]) for m in messages) // 4
            completion = result.pop("_chunks")
            result["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                               "total_tokens": prompt_tokens + completion, "estimated": True}  # fmt: skip
        result.pop("_chunks", None)
        ctx.outputs.write_json("result.json", result, main=True)
        ctx.progress(1.0, _tokens(result["usage"]["completion_tokens"]))
        return result

    def _call(
        self, ctx: JobContext, body: dict[str, Any], headers: dict[str, str], params: LlmParams
    ) -> dict[str, Any]:
        """POST with retries on 429, 5xx and refused connections; the streamed answer assembled."""
        with httpx.Client(timeout=httpx.Timeout(self._timeout)) as client:
            for attempt in range(1, self._attempts + 1):
                ctx.check_cancelled()
                try:
                    with client.stream("POST", self._url, json=body, headers=headers) as response:
                        status = response.status_code
                        if status < 400:
                            return self._answer(ctx, response, params)
                        detail = self._redacted(response.read()[:2000].decode("utf-8", "replace"))
                        retry_after = response.headers.get("retry-after")
                except httpx.TimeoutException as exc:
                    raise PluginError(
                        f"the LLM endpoint did not answer within {self._timeout:g} s (HELIXNET_LLM_TIMEOUT_SECONDS)"
                    ) from exc
                except httpx.TransportError as exc:
                    status, detail, retry_after = 0, self._redacted(f"{type(exc).__name__}: {exc}"), None
                if status in (401, 403):
                    raise JobFailed(f"the LLM endpoint refused the API key ({status}); check HELIXNET_LLM_API_KEY")
                if status and status not in RETRIED_STATUSES:
                    raise JobFailed(f"the LLM endpoint answered {status}: {_message(detail)}")
                what = f"answered {status}" if status else f"could not be reached ({detail})"
                if attempt == self._attempts:
                    raise PluginError(f"the LLM endpoint {what}; gave up after {attempt} attempt(s)")
                delay = min(self._max_delay, _retry_after(retry_after) or self._backoff * 2 ** (attempt - 1))
                ctx.log.warning(f"the LLM endpoint {what}; attempt {attempt + 1} of {self._attempts} in {delay:.2f} s")
                if ctx.wait(delay):
                    ctx.check_cancelled()
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, ctx: JobContext, response: httpx.Response, params: LlmParams) -> dict[str, Any]:
        if response.headers.get("content-type", "").startswith("application/json"):
            try:  # an endpoint that ignores "stream": true
                return _whole(json.loads(response.read()))
            except (ValueError, TypeError, AttributeError, IndexError) as exc:
                raise PluginError(f"the LLM endpoint sent a completion that could not be read: {exc}") from exc
        parts: list[str] = []
        result: dict[str, Any] = {"usage": None, "finish_reason": None}
        chunks = 0
        for line in response.iter_lines():
            ctx.check_cancelled()
            if not line.startswith("data:"):
                continue  # blank separators, ": comments", event: and id: fields
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                raise PluginError(f"the LLM endpoint sent a line that is not JSON: {data[:200]!r}") from None
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                raise PluginError(f"the LLM endpoint reported an error: {_message(json.dumps(chunk))}")
            if chunk.get("model"):
                result["model"] = chunk["model"]
            if chunk.get("usage"):
                result["usage"] = _usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                if text := (choice.get("delta") or {}).get("content"):
                    parts.append(text)
                    chunks += 1
                    ctx.progress(_fraction(chunks, params.max_tokens), _tokens(chunks))
                if choice.get("finish_reason"):
                    result["finish_reason"] = choice["finish_reason"]
        result["answer"] = "".join(parts)
        result["_chunks"] = chunks
        return result

    def _redacted(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _whole(body: dict[str, Any]) -> dict[str, Any]:
    choice = (body.get("choices") or [{}])[0]
    answer = (choice.get("message") or {}).get("content") or ""
    usage = _usage(body["usage"]) if body.get("usage") else None
    result = {"answer": answer, "usage": usage, "finish_reason": choice.get("finish_reason"), "_chunks": 0}
    if body.get("model"):
        result["model"] = body["model"]
    return result


def _usage(raw: dict[str, Any]) -> dict[str, Any]:
    usage = {key: int(raw.get(key) or 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
    usage["total_tokens"] = usage["total_tokens"] or usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _fraction(tokens: int, max_tokens: int | None) -> float:
    if max_tokens:
        return min(0.99, tokens / max_tokens)
    return tokens / (tokens + PROGRESS_HALF_AT)


def _tokens(count: int) -> str:
    return f"{count} token" if count == 1 else f"{count} tokens"


def _retry_after(value: str | None) -> float | None:
    """Seconds (fractions accepted) or an HTTP date, as RFC 9110 allows; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _message(detail: str) -> str:
    """The endpoint's own error message when it sent OpenAI's ``{"error": {"message": ...}}``."""
    try:
        error = json.loads(detail).get("error")
        text = error.get("message") if isinstance(error, dict) else error
        return str(text)[:500] if text else detail[:500]
    except (ValueError, AttributeError):
        return detail[:500]


def _display(url: str) -> str:
    """The URL without user:password, for log lines."""
    parts = urlsplit(url)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
