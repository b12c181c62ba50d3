import { MongoNetworkError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { classifyError, JobError } from '../../src/worker/job-errors.ts';
import { errorSummary } from '../../src/shared/errors.ts';
import { bulkOutcome, commandError, duplicateKey, networkError, selectionError, WRITE_CONCERN_TIMEOUT } from '../support/driver-errors.ts';

// The errors are built by the driver's own code paths (test/support/driver-errors.ts).

const errorOf = (o: ReturnType<typeof bulkOutcome>) => {
  if (!('error' in o)) throw new Error('expected the bulk write to throw');
  return o.error;
};

describe('classifyError on driver 7.9 bulk errors', () => {
  it('when a lost connection arrives wrapped in a MongoBulkWriteError without a code, then it is DB_UNAVAILABLE (not DB_ERROR code NaN)', () => {
    const failure = classifyError(networkError());
    expect(failure).toMatchObject({ code: 'DB_UNAVAILABLE', permanent: false });
    expect(failure.message).not.toMatch(/NaN/);
  });

  it('when a server-selection timeout arrives wrapped, then it is DB_UNAVAILABLE and retryable', () => {
    expect(classifyError(selectionError())).toMatchObject({ code: 'DB_UNAVAILABLE', permanent: false });
  });

  it('when the server refuses the command with code 13 (Unauthorized), then it is DB_REJECTED and permanent', () => {
    expect(classifyError(commandError(13, 'Unauthorized'))).toMatchObject({ code: 'DB_REJECTED', permanent: true });
  });

  it('when a primary steps down (code 10107 NotWritablePrimary), then it is DB_UNAVAILABLE, not a rejection', () => {
    expect(classifyError(commandError(10107, 'NotWritablePrimary'))).toMatchObject({ code: 'DB_UNAVAILABLE', permanent: false });
  });

  it('when the reply carries a write-concern error (empty writeErrors, no writeConcernError property), then it is DB_NOT_DURABLE and retryable', () => {
    const err = errorOf(bulkOutcome('update', 2, { ok: 1, n: 2, nModified: 2, writeConcernError: WRITE_CONCERN_TIMEOUT }));
    expect(err.writeErrors).toEqual([]); // the driver's shape the old check missed
    expect(classifyError(err)).toMatchObject({ code: 'DB_NOT_DURABLE', permanent: false });
  });

  it('when a duplicate key is the first write error, then it maps by that code, retryable, and quotes no value', () => {
    const failure = classifyError(errorOf(bulkOutcome('update', 1, { ok: 1, n: 0, writeErrors: [duplicateKey(0)] })));
    expect(failure).toMatchObject({ code: 'DB_ERROR', permanent: false });
    expect(failure.message).not.toMatch(/_id|dup key/);
  });

  it('when the error is ours already, then it is kept as it is', () => {
    const own = new JobError('FORBIDDEN_TENANT', 'x', true);
    expect(classifyError(own)).toBe(own);
  });

  it('when the connection drops outside a bulk write, then it is DB_UNAVAILABLE and retryable, and the driver\'s message (which can quote a host) is not kept', () => {
    const err = classifyError(new MongoNetworkError('connection 5 to 10.0.0.7:27017 closed'));
    expect({ code: err.code, permanent: err.permanent }).toEqual({ code: 'DB_UNAVAILABLE', permanent: false });
    expect(err.message).not.toContain('10.0.0.7');
  });

  it('when the error is not the database\'s at all, then it is WORKER_ERROR, retryable, named by its type only', () => {
    const err = classifyError(new TypeError('cannot read fullname of "Somchai"'));
    expect({ code: err.code, permanent: err.permanent, message: err.message }).toEqual({ code: 'WORKER_ERROR', permanent: false, message: 'unexpected error (TypeError)' });
    expect(classifyError('a string').message).toBe('unexpected error (string)');
  });
});

describe('errorSummary (what a log line says of an error)', () => {
  it('when a driver error carries a message built from a command\'s arguments, then only its class and code are kept', () => {
    const err = Object.assign(new Error('ERR value "สมชาย ใจดี" is not an integer'), { code: 'ERR' });
    expect(errorSummary(err)).toEqual({ name: 'Error', code: 'ERR' });
    expect(JSON.stringify(errorSummary(err))).not.toContain('สมชาย');
  });

  it('when the thrown value is not an Error, then its type stands for its name', () => {
    expect(errorSummary('a string with a value')).toEqual({ name: 'string' });
    expect(errorSummary(undefined)).toEqual({ name: 'undefined' });
    expect(errorSummary(Object.assign(new TypeError('x'), { code: 11000 }))).toEqual({ name: 'TypeError', code: 11000 });
  });
});

describe('errorSummary of a Redis reply error', () => {
  it('when Redis refuses a command (ReplyError, no code), then its first word is the code and the rest of its text is dropped', () => {
    const err = Object.assign(new Error("READONLY You can't write against a read only replica. สมชาย"), { name: 'ReplyError' });
    expect(errorSummary(err)).toEqual({ name: 'ReplyError', code: 'READONLY' });
    expect(errorSummary(Object.assign(new Error('value สมชาย'), { name: 'ReplyError' }))).toEqual({ name: 'ReplyError' });
  });
});
