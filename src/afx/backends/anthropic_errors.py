"""How the Anthropic backend treats an SDK error: retry (TransientError, with the server's retry-after and its
`x-should-retry` word), stop the sweep in one line (AfxError: a bad key, a retired model, prefill, a spend limit,
billing, a request too large), as plain data that crosses the pipe from a request process (ApiFailure).

Checked against anthropic 2.17 (`APIStatusError.error_code` = error.details.error_code; the codes in
types/shared/*_error_details.py; `_base_client._should_retry`) and Anthropic's errors page (docs/backends.md
"Retries")."""

from __future__ import annotations

import dataclasses
import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from afx.errors import AfxError
from afx.sampling import TransientError

TRANSIENT_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from `retry-after-ms`, or `retry-after` (seconds or an HTTP date); None without either."""
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


@dataclass(frozen=True)
class ApiFailure:
    """What decides how afx treats an SDK error, as plain data (it crosses the pipe from a request process):
    kind "timeout", "connection" or "status"; for a status, the code, the API's message and error type, and the
    headers that carry a retry-after."""

    kind: str
    message: str = ""
    status: int = 0
    error_type: str = ""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    error_code: str = ""  # error.details.error_code (anthropic 2.17: APIStatusError.error_code)


HINT_HEADERS = ("retry-after-ms", "retry-after", "x-should-retry")
# error.details.error_code values that no retry can fix (anthropic 2.17 types/shared/*_error_details.py): a spend
# limit (a 429 rate_limit_error without retry-after for enforced_spend_limit_reached), billing, an organization on
# hold. The sweep stops in one line instead of retrying every request into the same wall.
STOP_CODES = {
    "enforced_spend_limit_reached": "the organization reached its usage tier's monthly spend limit",
    "contract_spend_limit_reached": "the organization reached its contract's spend limit",
    "linked_organization_spend_limit_reached": "the linked organization reached a spend limit or lacks credit",
    "linked_organization_billing_unavailable": "the linked organization cannot be billed",
    "organization_on_hold": "the organization is on hold",
}
# A spend limit the user set: HTTP 400 invalid_request_error whose message begins like this (Anthropic errors docs).
SPEND_LIMIT_MESSAGE = re.compile(r"you have reached your specified (workspace )?api usage limits", re.IGNORECASE)


def describe_failure(exc: BaseException, sdk: Any) -> ApiFailure | None:
    """An SDK exception as an ApiFailure; None for any other exception (those are raised unchanged)."""
    if isinstance(exc, sdk.APITimeoutError):
        return ApiFailure("timeout")
    if isinstance(exc, sdk.APIConnectionError):
        return ApiFailure("connection", str(exc.__cause__ or exc)[:200])
    if not isinstance(exc, sdk.APIStatusError):
        return None
    headers = exc.response.headers
    return ApiFailure(
        "status",
        str(getattr(exc, "api_message", None) or getattr(exc, "message", "") or "")[:300],
        exc.status_code,
        str(getattr(exc, "type", None) or ""),
        {name: headers[name] for name in HINT_HEADERS if headers.get(name) is not None},
        str(getattr(exc, "error_code", None) or ""),
    )


@dataclass(frozen=True)
class ErrorContext:
    """What the one-line messages name: the model, the key variable, the timeout, a retirement note."""

    model_id: str
    key_env: str
    timeout_s: float
    retired_note: str = ""


def failure_error(failure: ApiFailure, ctx: ErrorContext) -> Exception:
    """TransientError (retry) or AfxError (the user must act) for an SDK error, in-process or from a worker."""
    if failure.kind == "timeout":
        return TransientError("timeout", f"no answer within {ctx.timeout_s:g}s")
    if failure.kind == "connection":
        return TransientError("connection", failure.message)
    status = failure.status
    if failure.error_code in STOP_CODES or SPEND_LIMIT_MESSAGE.search(failure.message):
        return spend_stop(failure, ctx)
    should_retry = failure.headers.get("x-should-retry")  # the server's word overrides the status (as the SDK)
    transient = status in TRANSIENT_STATUS or status >= 500
    if should_retry == "true" or (transient and should_retry != "false"):
        return TransientError(str(status), failure.message, retry_after_s(failure.headers))
    if transient:  # x-should-retry: false
        return TransientError(f"{status}_no_retry", failure.message, retry=False)
    return fatal(status, failure.error_type, failure.message, ctx)


def spend_stop(failure: ApiFailure, ctx: ErrorContext) -> AfxError:
    """The line that stops a sweep on a spend or billing limit (nothing is retried: it cannot succeed)."""
    what = STOP_CODES.get(failure.error_code) or "a spend limit set on the organization or workspace was reached"
    code = f" {failure.error_code}" if failure.error_code else ""
    return AfxError(
        f"the Anthropic API stopped this sweep for model={ctx.model_id}: {what} (HTTP {failure.status}"
        f"{code}: {failure.message}); finished samples are cached: raise the limit, then rerun the same command"
    )


def fatal(status: int, kind: str, message: str, ctx: ErrorContext) -> AfxError:
    """One line for an answer the user must act on (never retried)."""
    where = f"model={ctx.model_id}"
    if status == 401:
        return AfxError(f"{ctx.key_env} was rejected by the Anthropic API (401 {kind or 'authentication_error'})")
    if status == 403:
        return AfxError(f"{ctx.key_env} may not use {where} (403 {kind}: {message})")
    if status == 404:
        note = f"; {ctx.retired_note}" if ctx.retired_note else ""
        return AfxError(f"{where} is not available to this key (404 {kind}: {message}){note}")
    if status == 400 and "prefill" in message.lower():
        return AfxError(
            f"{where} rejects assistant prefill (HTTP 400: {message}): set model.prefix_mode=turn and "
            f"model.prefill.first='' model.prefill.next='' (or use a config with supports_prefill: false)"
        )
    if status == 402:
        return AfxError(
            f"the Anthropic API refused to bill {ctx.key_env} for {where} (402 {kind or 'billing_error'}: "
            f"{message}); add credit or fix billing, then rerun the same command (finished samples are cached)"
        )
    if status == 413:
        return AfxError(
            f"a request for {where} is larger than the API accepts (413 {kind or 'request_too_large'}: {message}); "
            f"shorten the system prompt or the queries (data.*)"
        )
    return AfxError(f"the Anthropic API refused a request for {where} (HTTP {status} {kind}: {message})")
