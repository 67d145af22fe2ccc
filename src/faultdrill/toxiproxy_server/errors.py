"""API errors with Toxiproxy's exact messages and status codes (spec §1)."""

from __future__ import annotations

__all__ = ["ApiError", "bad_request_body"]


class ApiError(Exception):
    """An error the API reports as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @classmethod
    def missing_field(cls, what: str) -> ApiError:
        return cls(f"missing required field: {what}", 400)

    @classmethod
    def proxy_not_found(cls) -> ApiError:
        return cls("proxy not found", 404)

    @classmethod
    def proxy_already_exists(cls) -> ApiError:
        return cls("proxy already exists", 409)

    @classmethod
    def invalid_stream(cls) -> ApiError:
        return cls("stream was invalid, can be either upstream or downstream", 400)

    @classmethod
    def invalid_toxic_type(cls) -> ApiError:
        return cls("invalid toxic type", 400)

    @classmethod
    def toxic_already_exists(cls) -> ApiError:
        return cls("toxic already exists", 409)

    @classmethod
    def toxic_not_found(cls) -> ApiError:
        return cls("toxic not found", 404)

    @classmethod
    def internal(cls, message: str) -> ApiError:
        """An error with no API status of its own (Go reports these as 500)."""
        return cls(message, 500)


def bad_request_body(detail: object) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)
