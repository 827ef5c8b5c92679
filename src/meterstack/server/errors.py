"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from meterstack.answers import rate_limit_headers, refusal_body
from meterstack.errors import MeterstackError, StoreUnavailableError
from meterstack.rules.decisions import Decision


class ErrorBody(BaseModel):
    #: Stable: clients map errors by code, never by status alone (D4).
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    """Every error: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorBody


ERROR_SCHEMA: dict[str, Any] = {"model": ErrorOut, "description": "An error"}


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


def domain_error_response(error: MeterstackError) -> JSONResponse:
    """A domain error in the one shape, with its own status (the handler, and the consume lane)."""
    # A database that could not do the work is worth a retry (with the same idempotency key).
    headers = {"Retry-After": "1"} if isinstance(error, StoreUnavailableError) else None
    return error_response(
        error.http_status, error.code, error.message, _jsonable(error.details), headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(MeterstackError)
    def _domain(_: Request, error: MeterstackError) -> JSONResponse:
        return domain_error_response(error)

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
