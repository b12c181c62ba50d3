import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.app.ready();
});
afterAll(() => h.close());

const API_ROUTES = [
  ['post', '/api/patients'],
  ['post', '/api/patients/batch'],
  ['get', '/api/patients/{id}'],
  ['get', '/api/patients/jobs/{jobId}'],
  ['get', '/api/admin/dead-letters'],
  ['post', '/api/admin/dead-letters/{id}/replay'],
] as const;

describe('the OpenAPI help page', () => {
  it('when /docs/json is fetched, then it is a valid OpenAPI 3.1 document', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('when the document is read, then it lists every API route and its error answers as problem+json', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const [method, path] of API_ROUTES) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
      expect(h.app.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method} ${path} served`).toBe(true);
      for (const [status, response] of Object.entries(doc.paths[path][method].responses as Record<string, { content?: Record<string, unknown> }>)) {
        if (Number(status) >= 400) expect(Object.keys(response.content ?? {}), `${path} ${status}`).toEqual(['application/problem+json']);
      }
    }
    const post = doc.paths['/api/patients'].post;
    expect(Object.keys(post.requestBody.content)).toEqual(['application/json', 'text/json', 'application/x-www-form-urlencoded']);
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['200', '201', '202', '400', '409', '413', '415', '422', '503']));
    expect(post.requestBody.content['application/json'].example.hn).toBe('sample string 11');
    expect(Object.keys(doc.components.schemas.PatientInput.properties)).toHaveLength(25);
  });

  it('when /docs is opened, then the interactive page is served', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
  });

  it('when the document is read, then it says what the routes really take: unknown properties, form text, the id as the route reads it', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const { PatientInput, PatientForm } = doc.components.schemas;
    expect(PatientInput.additionalProperties).not.toBe(false);
    expect(PatientInput.description).toMatch(/unknown properties are accepted and ignored/);
    for (const [name, field] of Object.entries(PatientForm.properties as Record<string, { type?: string; anyOf?: { type: string }[] }>)) {
      expect(field.anyOf?.map((v) => v.type) ?? [field.type], `form ${name}`).toEqual(expect.arrayContaining(['string']));
      expect(field.anyOf?.every((v) => v.type === 'string') ?? field.type === 'string', `form ${name} is text only`).toBe(true);
    }
    const id = new RegExp(doc.paths['/api/patients/{id}'].get.parameters[0].schema.pattern);
    for (const text of ['260', '0000000001', '2147483647']) expect(id.test(text), text).toBe(true);
    for (const text of ['260.0', '0', '2147483648', '-1']) expect(id.test(text), text).toBe(false);
    const batch = doc.paths['/api/patients/batch'].post;
    expect(batch.requestBody.content['application/json'].schema.minItems).toBe(1);
    expect(Object.keys(batch.responses)).toEqual(expect.arrayContaining(['202', '400', '413', '415', '503']));
    expect(JSON.stringify(batch.responses['400'])).toContain('BatchRejected');
    expect(doc.components.schemas.BatchRejected.required).toEqual(expect.arrayContaining(['accepted', 'rejected', 'results']));
  });

  it('when a path is asked with a method it does not serve, then 405 with an Allow header naming the methods it serves', async () => {
    const cases = [
      ['TRACE', '/api/patients', 'POST'],
      ['PUT', '/api/patients/5', 'GET, HEAD'],
      ['GET', '/api/patients/batch', 'POST'],
      ['DELETE', '/api/patients/jobs/1-0', 'GET, HEAD'],
    ] as const;
    for (const [method, url, allow] of cases) {
      const res = await h.app.inject({ method, url });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
      expect(res.headers.allow, `${method} ${url}`).toBe(allow);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect((await h.app.inject({ method: 'GET', url: '/no/such/path' })).statusCode).toBe(404);
  });
});
