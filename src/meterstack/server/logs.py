"""No secret in a log line: the tokens of links are cut out of every access-log record.

Portal, dashboard sign-in and checkout links carry their secret in the query (``token=``,
``secret=``, ``jwt=``), because a browser must be able to open them. An access log (uvicorn's,
when it is turned on: ``meterstack serve`` keeps it off, a deployment may not) would keep each
one in plain text for whoever reads the logs. :class:`SecretsRedacted` replaces the value by
``[redacted]`` in the record before any handler formats it.
"""

from __future__ import annotations

import logging
import re

#: The query parameters that carry a secret, and their value.
_SECRET = re.compile(r"(?i)([?&](?:token|secret|jwt|api_key|key)=)[^&#\s\"']*")
REDACTED = "[redacted]"


def redacted(text: str) -> str:
    return _SECRET.sub(rf"\1{REDACTED}", text)


class SecretsRedacted(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redacted(value) if isinstance(value, str) else value for value in record.args
            )
        return True


_FILTER = SecretsRedacted()


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (once, however many apps are built)."""
    logging.getLogger("uvicorn.access").addFilter(_FILTER)
