import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HUAWEI_ERRORS, HuaweiRequestError, huaweiError, nameOfHuaweiCode } from '../../src/api/huawei/errors.js';
import { DomainError, ERROR_NAMES } from '../../src/model/errors.js';
import { ROOT } from '../helpers.js';

describe('the Huawei error table', () => {
  it('is the README\'s error table, code and status for code and status', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.split('<!-- errors:start -->')[1]!.split('<!-- errors:end -->')[0]!;
    const documented = [...section.matchAll(/^\| (EndPoint\.\d{4}) \| (\d{3}) \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    const table = [...new Set(Object.values(HUAWEI_ERRORS).map((e) => `${e.code} ${e.status}`))].sort();
    expect(documented).toEqual(table);
  });

  it('gives every entry a well-formed code, a 4xx or 5xx status and a message', () => {
    for (const [name, e] of Object.entries(HUAWEI_ERRORS)) {
      expect(e.code, name).toMatch(/^EndPoint\.\d{4}$/);
      expect(e.status >= 400 && e.status < 600, name).toBe(true);
      expect(new HuaweiRequestError(name as keyof typeof HUAWEI_ERRORS).message.length, name).toBeGreaterThan(0);
    }
  });

  it('maps every domain error name (the compiler checks it too)', () => {
    for (const name of ERROR_NAMES) expect(HUAWEI_ERRORS[name], name).toBeDefined();
  });

  it('cuts a message that quotes a huge input to 1,024 characters, saying so', () => {
    const id = 'x'.repeat(500_000);
    const full = `endpoint ${id} does not exist`;
    const msg = huaweiError(new DomainError('EndpointNotFound', full)).body.error_msg;
    expect(msg).toBe(`${full.slice(0, 984)}... (cut: ${full.length} characters)`);
    expect(msg.length).toBeLessThanOrEqual(1024);
    expect(huaweiError(new DomainError('EndpointNotFound', 'y'.repeat(1024))).body.error_msg).toBe('y'.repeat(1024));
  });

  it('serialises to exactly error_code and error_msg', () => {
    expect(huaweiError(new DomainError('PortConflict', 'x'))).toEqual({ status: 400, body: { error_code: 'EndPoint.3044', error_msg: 'x' } });
  });

  it('reads back the codes stored before issue 12 to their names', () => {
    expect(nameOfHuaweiCode('EndPoint.0011')).toBe('PrivilegedPort');
    expect(nameOfHuaweiCode('EndPoint.0012')).toBe('ListenFailed');
    expect(nameOfHuaweiCode('EndPoint.0001')).toBe('SystemError');
    expect(nameOfHuaweiCode('EndPoint.2003')).toBe('ServiceNotFound');
    expect(nameOfHuaweiCode('EndPoint.9999')).toBeUndefined();
  });
});
