import type { FastifyInstance } from 'fastify';
import { QueueUnavailableError, ValidationError, withTimeout } from '../../shared/errors.ts';
import { bindFields, createPatientSchema, parsePatient } from '../../shared/patient-schema.ts';
import { JOB_NAME, type PatientJobData } from '../../shared/queue.ts';
import type { AppDeps } from '../app.ts';

// The intake: validate against the shared contract, enqueue, answer 202. A 202 is only sent once
// Redis has the job; anything else (Redis down, too slow) is a 503 and the client retries.

export async function patientRoutes(app: FastifyInstance, { config, queue }: AppDeps): Promise<void> {
  const schema = createPatientSchema({ timeZone: config.PATIENT_TIME_ZONE, maxStringLength: config.PATIENT_STRING_MAX });

  app.post('/api/patients', async (request, reply) => {
    const parsed = parsePatient(schema, request.body);
    if (!parsed.ok) throw new ValidationError(parsed.issues);
    const data: PatientJobData = { patient: bindFields(request.body) as Record<string, unknown>, receivedAt: Date.now() };
    let jobId: string;
    try {
      const job = await withTimeout(queue.add(JOB_NAME, data), config.API_ENQUEUE_TIMEOUT_MS, () => new QueueUnavailableError());
      jobId = String(job.id);
    } catch (err) {
      request.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'enqueue failed');
      throw new QueueUnavailableError();
    }
    request.logFields = { jobId, patientId: parsed.patient.id };
    const statusUrl = `/api/patients/jobs/${jobId}`;
    return reply.code(202).header('location', statusUrl).send({ jobId, status: 'queued', statusUrl });
  });
}
