"""Tenant settings that let qualification tests send at any hour of any day."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.identity import owner_execute

ALL_DAY = {
    "sending_hours": {"start": "00:00", "end": "23:59"},
    "sending_weekdays": [1, 2, 3, 4, 5, 6, 7],
}


async def open_all_hours(database_url: str, tenant_id: str, **qualification: Any) -> None:
    """No quiet hours and sending all day, every day, plus the given qualification settings.

    Tests run at any hour; with the defaults, a run at night would send nothing.
    """
    await owner_execute(
        database_url,
        "UPDATE tenant SET settings = jsonb_set(jsonb_set(settings, '{qualification}', $2::jsonb),"
        " '{quiet_hours}', 'null'::jsonb) WHERE id = $1",
        uuid.UUID(tenant_id),
        json.dumps({**ALL_DAY, **qualification}),
    )
