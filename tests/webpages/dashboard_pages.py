"""Steps the dashboard's browser tests share: a sign-in link, a signed-in page, a usage bar."""

from __future__ import annotations

import re
from typing import Any

OPERATOR = "operator-secret"


def link_for(service: Any, account_id: str) -> str:
    """A single-use sign-in link, minted through the operator API as a platform would."""
    answer = service.post(
        f"/v1/accounts/{account_id}/dashboard-link",
        headers={"Authorization": f"Bearer {OPERATOR}"},
    )
    assert answer.status_code == 201, answer.text
    url: str = answer.json()["url"]
    return url


def signed_in(context: Any, service: Any, account_id: str) -> Any:
    """A page of ``context`` signed in to the account by a link, on the overview."""
    page = context.new_page()
    page.goto(link_for(service, account_id))
    page.wait_for_url(re.compile(r"/dashboard$"))
    return page


def section(page: Any, item: str) -> Any:
    """The usage bar's section of ``item``."""
    return page.locator(f"section.meter:has(#meter-{item})")
