import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError, ERRORS } from '../../src/model/errors.js';
import { ROOT } from '../helpers.js';

describe('the error table', () => {
  it('is the README\'s error table, code and status for code and status', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.split('<!-- errors:start -->')[1]!.split('<!-- errors:end -->')[0]!;
    const documented = [...section.matchAll(/^\| (EndPoint\.\d{4}) \| (\d{3}) \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    const table = [...new Set(Object.values(ERRORS).map((e) => `${e.code} ${e.status}`))].sort();
    expect(documented).toEqual(table);
  });

  it('gives every entry a well-formed code, a 4xx or 5xx status and a message', () => {
    for (const [name, e] of Object.entries(ERRORS)) {
      expect(e.code, name).toMatch(/^EndPoint\.\d{4}$/);
      expect(e.status >= 400 && e.status < 600, name).toBe(true);
      expect(e.message.length, name).toBeGreaterThan(0);
    }
  });

  it('serialises to exactly error_code and error_msg', () => {
    expect(new ApiError('PortConflict', 'x').toBody()).toEqual({ error_code: 'EndPoint.3044', error_msg: 'x' });
  });
});
