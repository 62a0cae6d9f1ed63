// validateParams: every method's params are checked for shape, types, lengths and ranges before a
// handler sees them; failures are ApiCallError with a stable code.
import { describe, expect, it } from 'vitest';
import type { AppSettings } from '../../electron/shared/api.js';
import { API_METHODS } from '../../electron/shared/api.js';
import { ApiCallError, toApiError, validateAppSettings, validateParams } from '../../electron/shared/api-validate.js';

const settings: AppSettings = {
  vmail: '/var/vmail', mail_home: '', mail_location: 'maildir:~/maildir', password: 'secret-pw', auth_mechanisms: ['plain', 'login'],
  disable_plaintext_auth: false, uid: '', gid: '', first_valid_uid: 500, listen: '127.0.0.1', port: 1143, startWithRoost: true, notifications: true,
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiCallError);
    return (e as ApiCallError).code;
  }
  return 'no error';
}

describe('validateParams', () => {
  it('accepts well-formed params for every method and returns fresh objects', () => {
    const good: Record<string, unknown> = {
      validateSettings: { settings }, saveSettings: { settings }, checkPath: { path: '/var/vmail' }, checkPort: { listen: '127.0.0.1', port: 143 },
      importPostfix: { dir: '/etc/postfix' }, pickDirectory: { title: 'vmail', defaultPath: '/var' }, logTail: { limit: 100 }, copyText: { text: 'x' },
      viewerFolders: { user: 'alice@brokkr.net' }, viewerPage: { user: 'alice@brokkr.net', mailbox: 'INBOX', offset: 0, limit: 50 },
      viewerMessage: { user: 'alice@brokkr.net', mailbox: 'INBOX', uid: 1 }, viewerRaw: { user: 'alice@brokkr.net', mailbox: 'INBOX', uid: 1 },
      viewerAction: { user: 'alice@brokkr.net', mailbox: 'INBOX', uids: [1], change: { action: 'seen', seen: true } },
      viewerSave: { user: 'alice@brokkr.net', mailbox: 'INBOX', uid: 1, part: '2' }, localDrop: { to: 'alice@brokkr.net' },
      sendTest: { host: '127.0.0.1', port: 25, to: 'alice@brokkr.net', timeoutMs: 30_000 },
    };
    for (const method of API_METHODS) {
      const params = good[method];
      const out = validateParams(method, params);
      if (params === undefined) expect(out, method).toBeUndefined();
      else {
        expect(out, method).toEqual(params);
        expect(out, method).not.toBe(params);
      }
    }
    // No-params methods take undefined, null or {} (an empty JSON body).
    expect(validateParams('appInfo', {})).toBeUndefined();
    expect(validateParams('appInfo', null)).toBeUndefined();
    expect(validateParams('pickDirectory', undefined)).toEqual({});
  });

  it('refuses unknown methods', () => {
    expect(codeOf(() => validateParams('__proto__', undefined))).toBe('UNKNOWN_METHOD');
    expect(codeOf(() => validateParams('constructor', undefined))).toBe('UNKNOWN_METHOD');
    expect(codeOf(() => validateParams(42, undefined))).toBe('UNKNOWN_METHOD');
  });

  it('refuses extra keys, wrong types, bad lengths and ranges', () => {
    const bad: Array<[string, unknown]> = [
      ['appInfo', { extra: 1 }],
      ['appInfo', 'x'],
      ['checkPath', { path: '' }],
      ['checkPath', { path: 'a'.repeat(5000) }],
      ['checkPath', { path: '/x\0y' }],
      ['checkPath', { path: '/x', more: true }],
      ['checkPath', {}],
      ['checkPath', []],
      ['checkPort', { listen: '127.0.0.1', port: 70000 }],
      ['checkPort', { listen: '127.0.0.1', port: 1.5 }],
      ['checkPort', { listen: '127.0.0.1', port: '143' }],
      ['checkPort', { listen: 'a\nb', port: 143 }],
      ['logTail', { limit: 0 }],
      ['logTail', { limit: 1e9 }],
      ['copyText', { text: 'x'.repeat(70_000) }],
      ['pickDirectory', { title: 5 }],
      ['validateSettings', {}],
      ['validateSettings', { settings: { ...settings, extra: 1 } }],
      ['saveSettings', { settings: { ...settings, port: -1 } }],
      ['saveSettings', { settings: { ...settings, auth_mechanisms: ['plain', 'plain'] } }],
      ['saveSettings', { settings: { ...settings, auth_mechanisms: ['cram-md5'] } }],
      ['saveSettings', { settings: { ...settings, notifications: 'yes' } }],
      ['saveSettings', { settings: Object.assign(Object.create({ polluted: true }), settings) }],
    ];
    for (const [method, params] of bad) expect(codeOf(() => validateParams(method, params)), `${method} ${JSON.stringify(params)?.slice(0, 80)}`).toBe('INVALID');
  });

  it('names every bad settings field at once', () => {
    try {
      validateAppSettings({ ...settings, port: 'x', listen: 7, vmail: undefined });
      expect.unreachable();
    } catch (e) {
      const problems = (e as ApiCallError).problems ?? [];
      expect(problems.map((p) => p.field).sort()).toEqual(['listen', 'port', 'vmail']);
      expect(toApiError(e)).toMatchObject({ code: 'INVALID', problems: expect.any(Array) });
    }
  });

  it('toApiError keeps unknown errors generic', () => {
    expect(toApiError(new Error('boom'))).toEqual({ code: 'FAILED', message: 'boom' });
    expect(JSON.parse(JSON.stringify(new ApiCallError('INVALID', 'x')))).toEqual({ code: 'INVALID', message: 'x' });
  });
});
