# Loaded by schemathesis (SCHEMATHESIS_HOOKS) for test/contract/schemathesis.test.ts: it has no
# serializer of its own for NDJSON, which the batch endpoint takes as one patient object per line.
import datetime
import json
import uuid

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, list):
        return "".join(json.dumps(item) + "\n" for item in value).encode()
    return json.dumps(value).encode()


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # A generated Idempotency-Key is often reused by later cases with another body, which the API
    # rightly answers 422 (documented, and proven in test/integration/api-features.test.ts); a
    # fresh key per case keeps positive_data_acceptance meaningful for every other answer.
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex


PAST = "2025-10-31T19:55:09.1383551+07:00"


def _not_ahead(record):
    # PATIENT_MAX_FUTURE_S, documented on modify_time as x-max-future-seconds (JSON Schema cannot say
    # "not after now"): a generated date in the future is a case the document itself says is refused.
    if isinstance(record, dict):
        value = record.get("modify_time")
        if isinstance(value, str) and len(value) >= 10:
            try:
                day = datetime.date.fromisoformat(value[:10])
            except ValueError:
                return
            if day >= datetime.date.today() - datetime.timedelta(days=1):
                record["modify_time"] = PAST


@schemathesis.hook
def map_body(ctx, body):
    for record in body if isinstance(body, list) else [body]:
        _not_ahead(record)
    return body
