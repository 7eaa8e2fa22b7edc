"""The model behind AI assistance: any OpenAI-compatible chat-completions API, chosen by settings.

The answer is asked for as JSON matching a JSON Schema (`response_format: json_schema`, strict); an API that
refuses that format is asked again with `json_object` and the schema in the prompt. Either way the caller
validates what comes back before using it (app.ai.assistant). Rate limits and server errors are retried with
backoff (AI_RETRIES); nothing else is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson

RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_ANSWER_BYTES = 1024 * 1024


class ProviderError(Exception):
    """No usable answer: the message says why, in words for the person who asked."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    model: str


class ChatProvider(Protocol):
    model: str

    async def complete(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Completion: ...


class OpenAICompatible:
    def __init__(self, base_url: str, api_key: str | None, model: str, timeout: float, retries: int) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.retries = retries

    async def complete(self, system: str, user: str, schema_name: str, schema: dict[str, Any]) -> Completion:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": False},
            },
        }
        started = time.perf_counter()
        try:
            answer = await self._post(body)
        except _FormatRefused:
            with_schema = (
                f"{system}\n\nAnswer with one JSON object matching this JSON Schema:\n{orjson.dumps(schema).decode()}"
            )
            body["messages"] = [{"role": "system", "content": with_schema}, messages[1]]
            body["response_format"] = {"type": "json_object"}
            answer = await self._post(body)
        latency = round((time.perf_counter() - started) * 1000)
        try:
            message = answer["choices"][0]["message"]
            if isinstance(message, dict) and message.get(
                "refusal"
            ):  # OpenAI's structured refusal: said, never parsed as an answer
                raise ProviderError(f"the model refused: {str(message['refusal'])[:300]}")
            text = message["content"]
            usage = answer.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ProviderError(f"the model's API answered without a message ({type(exc).__name__})") from None
        if not isinstance(text, str):
            raise ProviderError("the model's API answered without text content")
        return Completion(text, prompt_tokens, completion_tokens, latency, str(answer.get("model") or self.model))

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        delay = 1.0
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                async with (
                    aiohttp.ClientSession(timeout=timeout) as client,
                    client.post(self.url, data=orjson.dumps(body), headers=headers) as response,
                ):
                    raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise ProviderError(f"the model's API answered more than {MAX_ANSWER_BYTES} bytes")
                    if (
                        response.status == 400
                        and b"response_format" in raw
                        and body["response_format"]["type"] == "json_schema"
                    ):
                        raise _FormatRefused()
                    if response.status in RETRIED_STATUSES and not last:
                        retry_after = response.headers.get("Retry-After", "")
                        await asyncio.sleep(min(float(retry_after), 30.0) if retry_after.isdigit() else delay)
                        delay *= 2
                        continue
                    if response.status >= 400:
                        said = raw[:300].decode("utf-8", "replace")
                        raise ProviderError(f"the model's API answered HTTP {response.status}: {said}")
                    try:
                        parsed = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        raise ProviderError("the model's API answered something that is not JSON") from None
                    if not isinstance(parsed, dict):
                        raise ProviderError("the model's API answered JSON that is not an object")
                    return parsed
            except (aiohttp.ClientError, TimeoutError) as exc:
                if last:
                    what = "did not answer in time" if isinstance(exc, TimeoutError) else f"failed: {exc}"
                    raise ProviderError(f"the model's API at {self.url} {what}") from None
                await asyncio.sleep(delay)
                delay *= 2
        raise ProviderError("the model's API could not be reached")  # not reached: the last attempt raises


class _FormatRefused(Exception):
    pass
