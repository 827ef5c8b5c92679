"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from meterstack.answers import rate_limit_headers, refusal_body
from meterstack.errors import MeterstackError
from meterstack.rules.decisions import Decision

ERROR_SCHEMA: dict[str, Any] = {
    "description": "An error",
    "content": {
        "application/json": {
            "example": {"error": {"code": "limit_exceeded", "message": "…", "details": {}}}
        }
    },
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def refusal_response(decision: Decision) -> JSONResponse:
    """A refused decision as an error: its status, code and the decision in ``details`` (C5)."""
    return JSONResponse(
        refusal_body(decision),
        status_code=decision.http_status,
        headers=rate_limit_headers(decision),
    )


#: What SQLite says when the file is busy, locked, full or unreachable: worth a retry.
_TRANSIENT_SQLITE = ("locked", "busy", "disk i/o", "unable to open", "is full")


def _transient(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return any(sign in message for sign in _TRANSIENT_SQLITE)


def install(app: FastAPI) -> None:
    @app.exception_handler(MeterstackError)
    def _domain(_: Request, error: MeterstackError) -> JSONResponse:
        return error_response(
            error.http_status, error.code, error.message, _jsonable(error.details)
        )

    def _store_unavailable(_: Request, error: Exception) -> JSONResponse:
        # The transaction was rolled back, or its commit's fate is unknown: a retry with the
        # same idempotency key is safe either way.
        if isinstance(error, sqlite3.OperationalError) and not _transient(error):
            # SQLite reports its own mistakes (a missing table…) with this class too: a fault.
            return error_response(500, "internal_error", "the database refused the statement")
        return error_response(
            503,
            "store_unavailable",
            "the database could not complete the request; retry with the same idempotency key",
            {"reason": type(error).__name__},
            headers={"Retry-After": "1"},
        )

    app.add_exception_handler(sqlite3.OperationalError, _store_unavailable)
    app.add_exception_handler(psycopg.OperationalError, _store_unavailable)

    @app.exception_handler(RequestValidationError)
    def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "path": ".".join(str(part) for part in item["loc"] if part != "body"),
                "message": item["msg"],
            }
            for item in error.errors()
        ]
        first = problems[0] if problems else {"path": "", "message": "invalid request"}
        return error_response(
            422,
            "invalid_input",
            f"{first['path']}: {first['message']}" if first["path"] else first["message"],
            {"problems": problems},
        )

    @app.exception_handler(HTTPException)
    def _http(_: Request, error: HTTPException) -> JSONResponse:
        code = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        return error_response(
            error.status_code,
            code.get(error.status_code, "error"),
            str(error.detail),
            headers=dict(error.headers or {}),
        )


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        if isinstance(value, str | int | float | bool | dict | list | None)
        else str(value)
        for key, value in details.items()
    }
