// Reference (b) for scenario 1: what the old ASP.NET endpoint did. Validate with the same contract,
// write the patient straight to MongoDB (one replaceOne upsert, the service's write concern) and
// answer only after the write. Same Fastify setup as the API. Run as a process with the API's env vars.
import { ValidationError } from '../../src/shared/errors.ts';
import { createStore } from '../../src/shared/mongo.ts';
import { patientKey } from '../../src/shared/patient/patient-key.ts';
import { createPatientSchema, parsePatient } from '../../src/shared/patient/patient-schema.ts';
import { serveReference } from './fastify-setup.ts';

await serveReference('syncMongo', async (app, config) => {
  const schema = createPatientSchema({ timeZone: config.PATIENT_TIME_ZONE, maxStringLength: config.PATIENT_STRING_MAX });
  const store = createStore(config);
  app.post('/api/patients', async (request, reply) => {
    const parsed = parsePatient(schema, request.body);
    if (!parsed.ok) throw new ValidationError(parsed.issues);
    const { patient } = parsed;
    const _id = patientKey(patient.center_id ?? null, patient.id);
    const result = await store.patients.replaceOne({ _id }, { _id, ...patient } as never, { upsert: true });
    return reply.code(result.upsertedCount > 0 ? 201 : 200).send({ id: patient.id });
  });
  return () => store.close();
});
