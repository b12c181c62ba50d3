import type { FastifyRequest } from 'fastify';
import type { AccessAction, AccessEntry } from '../shared/access-audit.ts';

/** An access-audit entry for a read by the request's key: ids, the outcome and the client's address only. */
export function readEntry(request: FastifyRequest, action: AccessAction, patientId: number, outcome: AccessEntry['outcome']): Omit<AccessEntry, 'at'> {
  return { action, keyId: request.client.id, patientId, outcome, clientAddress: request.ip, requestId: request.id };
}
