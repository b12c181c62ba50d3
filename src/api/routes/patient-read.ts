import type { FastifyInstance } from 'fastify';
import { AppError } from '../../shared/errors.ts';
import { readEntry } from '../access-log.ts';
import { requireScope } from '../auth.ts';
import { lookupPatient } from '../patient-lookup.ts';
import { toPatientResponse } from '../patient-response.ts';
import { sendProblem } from '../problem.ts';
import type { RouteDeps } from '../route-deps.ts';

// `GET /api/patients/{id}`: a stored patient in the old endpoint's shape, for keys that may read it.

/** A positive int32 from a path, else null. */
const int32 = (text: string): number | null => (/^\d{1,10}$/.test(text) && Number(text) >= 1 && Number(text) <= 2147483647 ? Number(text) : null);
/** Any int32 from a query string (a center id, as the patient's own field allows), else null. */
const centerId = (text: string): number | null => (/^-?\d{1,11}$/.test(text) && Number(text) >= -2147483648 && Number(text) <= 2147483647 ? Number(text) || 0 : null);

export async function patientReadRoutes(app: FastifyInstance, { config, store, accessAudit }: RouteDeps): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: { center_id?: string } }>('/api/patients/:id', async (request, reply) => {
    requireScope(request, 'patients:read');
    const id = int32(request.params.id);
    const center = request.query.center_id === undefined ? undefined : centerId(request.query.center_id);
    if (id === null || center === null) throw new AppError('PATIENT_ID_INVALID', 400, 'the patient id must be a positive 32-bit integer, and center_id (if given) a 32-bit integer');
    // Only the key's centers are looked at; another center's patient is "not found" (the audit tells).
    const found = await lookupPatient(store.patients, request.client, id, center);
    await accessAudit.record(readEntry(request, 'patient.read', id, found.outcome));
    if (found.outcome === 'ambiguous') throw new AppError('PATIENT_ID_AMBIGUOUS', 409, 'several centers of this API key have a patient with this id; add ?center_id=');
    if (found.outcome !== 'returned') return sendProblem(reply, { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no patient with this id' });
    return toPatientResponse(found.doc, config.PATIENT_TIME_ZONE);
  });
}
