"""A server's failures as one line a writer can act on: unreachable, TLS, key, model, rate, server."""

from __future__ import annotations

from arxiv_tui.errors import ReportedError


class RemoteError(ReportedError):
    """A request to a completion server failed; exit status 1 (not the user's input) unless noted."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)


def _status_message(status: int, server: str, model: str, detail: str) -> tuple[str, int]:
    if status == 401:
        return f"{server} refused the API key (401); set the variable api_key_env names", 2
    if status == 403:
        return f"{server} does not let this key use {model} (403)", 2
    if status == 404:
        return f"{server} has no model {model!r} or no text-completion API (404){detail}", 2
    if status == 429:
        return f"{server} is rate-limiting requests (429); wait and press Ctrl+R{detail}", 1
    if status >= 500:
        return f"{server} failed ({status}){detail}", 1
    return f"{server} rejected the request ({status}){detail}", 2


def describe(exc: BaseException, server: str, model: str) -> RemoteError:
    """The RemoteError for an exception of the openai client or of httpx2."""
    import httpx2
    import openai

    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, openai.APIStatusError | httpx2.HTTPStatusError):
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else exc.response.status_code
        detail = _detail(exc)
        message, code = _status_message(status, server, model, f": {detail}" if detail else "")
        return RemoteError(message, code)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return RemoteError(f"{server} did not answer in time")
    cause = exc.__cause__ or exc.__context__ or exc
    if "SSL" in type(cause).__name__ or "[SSL" in str(cause) or "CERTIFICATE" in str(cause).upper():
        return RemoteError(f"TLS with {server} failed: {' '.join(str(cause).split())}")
    if isinstance(cause, httpx2.RemoteProtocolError | httpx2.ReadError):  # the connection broke mid-answer
        return RemoteError(f"the stream from {server} was cut off ({' '.join(str(cause).split())}); Ctrl+R retries")
    if isinstance(exc, openai.APIConnectionError | httpx2.ConnectError):
        return RemoteError(f"cannot reach {server}: {' '.join(str(cause).split()) or 'connection refused'}")
    if isinstance(exc, httpx2.TransportError | openai.APIError):
        return RemoteError(f"the stream from {server} was cut off ({type(exc).__name__}); Ctrl+R retries")
    return RemoteError(f"{server}: {type(exc).__name__}: {' '.join(str(exc).split())}")


def _detail(exc: BaseException) -> str:
    """The server's own message, from OpenAI's error shape or Ollama's `{"error": ...}`."""
    import openai

    body = getattr(exc, "body", None) if isinstance(exc, openai.APIStatusError) else None
    if body is None:
        try:
            body = exc.response.json()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - not JSON, or already read: no detail then
            return ""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        return " ".join(str(message).split())[:200] if message else ""
    return ""
