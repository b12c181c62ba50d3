# Loaded by schemathesis (SCHEMATHESIS_HOOKS) for test/contract/schemathesis.test.ts: it has no
# serializer of its own for NDJSON, which the batch endpoint takes as one patient object per line.
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
