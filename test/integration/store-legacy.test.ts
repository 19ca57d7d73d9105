// A data dir written by a vpcepd before issue 12, when a resource's `error` was stored with its
// Huawei code ({error_code, error_message}) instead of the error's name: it still starts, the API
// shows the same code, and the next change of the resource stores it by name.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DB_FILE } from '../../src/store/sqlite.js';
import { createAvailableService, startTestDaemon, tempDir, type TestDaemon } from '../helpers.js';

const running: TestDaemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop();
});

describe('stored documents of an older vpcepd', () => {
  it('a service stored failed with error_code EndPoint.0011 starts and answers with that code; a change stores it by name', async () => {
    const dir = tempDir();
    const first = await startTestDaemon(undefined, dir);
    const svc = await createAvailableService(first);
    await first.stop();

    const db = new Database(path.join(dir, 'data', DB_FILE));
    const row = db.prepare('SELECT body FROM documents WHERE kind = ? AND id = ?').get('service', svc.id) as { body: string };
    const old = { ...JSON.parse(row.body), status: 'failed', error: { error_code: 'EndPoint.0011', error_message: 'cannot listen on 127.1.0.9:80' } };
    db.prepare('UPDATE documents SET body = ? WHERE kind = ? AND id = ?').run(JSON.stringify(old), 'service', svc.id);
    db.close();

    const d = await startTestDaemon(undefined, dir);
    running.push(d);
    const got = await d.provider.get(`/vpc-endpoint-services/${svc.id}`);
    expect(got.status).toBe(200);
    expect(got.body.status).toBe('failed');
    expect(got.body.error).toEqual([{ error_code: 'EndPoint.0011', error_message: 'cannot listen on 127.1.0.9:80' }]);

    expect((await d.provider.post(`/endpoint_service/${svc.id}/tags/action`, { action: 'create', tags: [{ key: 'k', value: 'v' }] })).status).toBe(204);
    running.splice(0);
    await d.stop();
    const ro = new Database(path.join(dir, 'data', DB_FILE), { readonly: true });
    const stored = JSON.parse((ro.prepare('SELECT body FROM documents WHERE kind = ? AND id = ?').get('service', svc.id) as { body: string }).body);
    ro.close();
    expect(stored.error).toEqual({ name: 'PrivilegedPort', message: 'cannot listen on 127.1.0.9:80' });
  });
});
