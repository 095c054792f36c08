import { describe, expect, it } from 'vitest';
import { redactConfig, redactSecrets } from '../../src/core/redact.js';

describe('redactSecrets', () => {
  it('masks the password of a connection URL', () => {
    expect(redactSecrets('postgres://user:secret@host/db')).toBe('postgres://user:***@host/db');
    expect(redactSecrets('postgresql://tideline:p4ss/w0rd@127.0.0.1:5432/app?sslmode=require')).toBe(
      'postgresql://tideline:***@127.0.0.1:5432/app?sslmode=require',
    );
  });

  it('masks every URL in a longer text', () => {
    expect(redactSecrets('connect postgres://a:one@h1/db failed, then http://b:two@h2:8123 too')).toBe(
      'connect postgres://a:***@h1/db failed, then http://b:***@h2:8123 too',
    );
  });

  it('masks key=value passwords', () => {
    expect(redactSecrets('host=db user=app password=xyz dbname=app')).toBe('host=db user=app password=*** dbname=app');
    expect(redactSecrets('a=1&PASSWORD=xyz&b=2')).toBe('a=1&PASSWORD=***&b=2');
    expect(redactSecrets('passwd=abc pwd=def')).toBe('passwd=*** pwd=***');
  });

  it('leaves text without secrets unchanged', () => {
    for (const text of ['postgres://user@host/db', 'http://127.0.0.1:8123', 'host=db user=app', 'no secrets here', '']) {
      expect(redactSecrets(text)).toBe(text);
    }
  });
});

describe('redactConfig', () => {
  it('masks secret fields deep in objects and arrays and redacts URLs in strings', () => {
    const config = {
      url: 'postgres://u:hunter2@db/app',
      tables: ['public.orders'],
      partitions: 3,
      ssl: false,
      none: null,
      password: 'top',
      nested: {
        list: [{ password: 'a', user: 'x' }, { Token: 't', keep: 'k' }, 'password=inline'],
        sasl: { mechanism: 'plain', username: 'u', password: 'p' },
        apiKey: 'k1',
        api_key: 'k2',
        secret: { deep: 'value' },
        columns: { hash: [{ column: 'public.users.email', salt: 'pepper', algorithm: 'SHA-256' }] },
      },
    };
    expect(redactConfig(config)).toEqual({
      url: 'postgres://u:***@db/app',
      tables: ['public.orders'],
      partitions: 3,
      ssl: false,
      none: null,
      password: '***',
      nested: {
        list: [{ password: '***', user: 'x' }, { Token: '***', keep: 'k' }, 'password=***'],
        sasl: '***',
        apiKey: '***',
        api_key: '***',
        secret: '***',
        columns: { hash: [{ column: 'public.users.email', salt: '***', algorithm: 'SHA-256' }] },
      },
    });
  });

  it('does not change its input', () => {
    const config = { password: 'p', list: [{ password: 'q' }] };
    redactConfig(config);
    expect(config).toEqual({ password: 'p', list: [{ password: 'q' }] });
  });

  it('returns scalars as they are', () => {
    expect(redactConfig(5)).toBe(5);
    expect(redactConfig(null)).toBe(null);
    expect(redactConfig(undefined)).toBe(undefined);
    expect(redactConfig('plain')).toBe('plain');
  });
});

describe('redactSecrets edge cases', () => {
  it('hides a password that contains "@"', () => {
    expect(redactSecrets('postgres://user:p@ss@db.internal/shop')).toBe('postgres://user:***@db.internal/shop');
  });

  it('hides a password with an empty user name', () => {
    expect(redactSecrets('postgres://:secret@host/db')).toBe('postgres://:***@host/db');
  });

  it('hides PGPASSWORD=... and similar variables', () => {
    expect(redactSecrets('PGPASSWORD=hunter2 psql')).toBe('PGPASSWORD=*** psql');
  });
});
