"""Domain errors: each carries an HTTP status and a stable ``code``; one handler renders problem+json."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra or {}


class ValidationFailed(DomainError):
    status, code, title = 422, "validation_error", "The request is not valid"

    @classmethod
    def at(cls, loc: list[str | int] | tuple[str | int, ...], msg: str) -> ValidationFailed:
        return cls(msg, errors=[{"loc": list(loc), "msg": msg}])


class NotAuthenticated(DomainError):
    status, code, title = 401, "not_authenticated", "Not authenticated"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class InvalidState(DomainError):
    status, code, title = 409, "invalid_state", "Not allowed in the current state"


class AlreadyExists(DomainError):
    status, code, title = 409, "already_exists", "Already exists"


class IdempotencyConflict(DomainError):
    status, code, title = 409, "idempotency_conflict", "Idempotency key reused with a different request"


class LimitExceeded(DomainError):
    status, code, title = 409, "limit_exceeded", "A limit, cap, quota or budget would be exceeded"


class PayloadTooLarge(DomainError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(DomainError):
    status, code, title = 415, "unsupported_media_type", "The file's content is not an accepted type"


class RateLimited(DomainError):
    status, code, title = 429, "rate_limited", "Too many requests"


class UpstreamError(DomainError):
    status, code, title = 502, "upstream_error", "The payment provider failed"
