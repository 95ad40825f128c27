"""Print example session events dated a few days ago (one per line)."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta

day = date.today() - timedelta(days=2)
for n, (patient, minutes) in enumerate([("pt1", 38), ("pt1", 53), ("pt2", 60), ("pt9", 30)]):
    print(
        json.dumps(
            {
                "schema_version": 1,
                "event_id": str(uuid.uuid4()),
                "event_type": "session.completed",
                "occurred_at": datetime.now(UTC).isoformat(),
                "clinic_id": "c1",
                "session_id": f"example-{day:%Y%m%d}-{n}",
                "patient_id": patient,
                "therapist_id": "t1",
                "date_of_service": (day - timedelta(days=7 * n)).isoformat(),
                "techniques": [
                    {"technique": "swedish_massage", "minutes": minutes, "body_region": "back"}
                ],
            }
        )
    )
print('{"event_type": "session.completed", "clinic_id": "c1"}')
