import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig, parseSerial, retentionMs } from './config.ts';

describe('config', () => {
  it('has the documented defaults', () => {
    const options = loadConfig({});
    expect(options).toMatchObject({ port: 8080, host: '0.0.0.0', influxUrl: undefined, adminToken: undefined, serial: [] });
    expect(options.dataDir).toMatch(/\/data$/);
    expect(options.spoolMaxBytes).toBe(DEFAULTS.spoolMaxBytes);
  });

  it('reads every documented variable', () => {
    const options = loadConfig({
      HUB_PORT: '9000', HUB_HOST: '127.0.0.1', HUB_DATA_DIR: '/tmp/x', INFLUX_URL: 'http://127.0.0.1:8086/telemetry',
      HUB_ADMIN_TOKEN: 'a-long-operator-secret', HUB_SERIAL: '/dev/ttyUSB0:9600,/dev/ttyACM0', HUB_SPOOL_MAX_BYTES: '1000', HUB_LOG_LEVEL: 'warn',
    });
    expect(options).toMatchObject({
      port: 9000, host: '127.0.0.1', dataDir: '/tmp/x', influxUrl: 'http://127.0.0.1:8086/telemetry', adminToken: 'a-long-operator-secret',
      serial: [{ path: '/dev/ttyUSB0', baudRate: 9600 }, { path: '/dev/ttyACM0', baudRate: 115200 }], spoolMaxBytes: 1000, logLevel: 'warn',
    });
  });

  it('fails at start with a clear message on bad values', () => {
    expect(() => loadConfig({ HUB_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ HUB_PORT: '70000' })).toThrow(/HUB_PORT=70000/);
    expect(() => loadConfig({ INFLUX_URL: 'influx:8086' })).toThrow(/INFLUX_URL/);
    expect(() => parseSerial('ttyUSB0')).toThrow(/HUB_SERIAL/);
    expect(() => loadConfig({ INFLUX_RETENTION: 'forever' })).toThrow(/INFLUX_RETENTION/);
    expect(() => loadConfig({ HUB_TLS_CERT: 'cert.pem' })).toThrow(/HUB_TLS_KEY/);
    expect(loadConfig({ HUB_TLS_CERT: '/c.pem', HUB_TLS_KEY: '/k.pem' }).tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem' });
    expect(loadConfig({ INFLUX_RETENTION: '30d' }).influxRetention).toBe('30d');
    expect(loadConfig({ HUB_QUERY_TIMEOUT_MS: '2500' }).queryTimeoutMs).toBe(2500);
    expect(loadConfig({}).queryTimeoutMs).toBe(10_000);
    expect(() => loadConfig({ HUB_QUERY_TIMEOUT_MS: '5' })).toThrow(/HUB_QUERY_TIMEOUT_MS=5/);
    expect(loadConfig({ HUB_QUERY_MAX_SCAN: '500000' }).queryMaxScan).toBe(500_000);
    expect(loadConfig({}).queryMaxScan).toBe(20_000_000);
    expect(() => loadConfig({ HUB_QUERY_MAX_SCAN: '10' })).toThrow(/HUB_QUERY_MAX_SCAN=10/);
    expect(loadConfig({}).storeWritesInFlight).toBe(2);
    expect(loadConfig({ HUB_STORE_WRITES_IN_FLIGHT: '3' }).storeWritesInFlight).toBe(3);
    expect(() => loadConfig({ HUB_STORE_WRITES_IN_FLIGHT: '0' })).toThrow(/HUB_STORE_WRITES_IN_FLIGHT=0/);
  });

  it('refuses an operator token shorter than 16 characters or with white space', () => {
    expect(() => loadConfig({ HUB_ADMIN_TOKEN: 'operator' })).toThrow(ConfigError);
    expect(() => loadConfig({ HUB_ADMIN_TOKEN: 'fifteen-chars-x' })).toThrow(/HUB_ADMIN_TOKEN is 15 characters long: use at least 16/);
    expect(() => loadConfig({ HUB_ADMIN_TOKEN: 'sixteen chars ok' })).toThrow(/HUB_ADMIN_TOKEN contains white space/);
    expect(loadConfig({ HUB_ADMIN_TOKEN: 'sixteen-chars-ok' }).adminToken).toBe('sixteen-chars-ok');
    expect(loadConfig({ HUB_ADMIN_TOKEN: '' }).adminToken).toBeUndefined();
  });

  it('reads the history tier retentions, 90 days and 260 weeks by default', () => {
    expect(loadConfig({}).tierRetention).toEqual({ minute: '90d', hour: '260w' });
    expect(loadConfig({ HUB_ROLLUP_MINUTE_RETENTION: '30d', HUB_ROLLUP_HOUR_RETENTION: 'INF' }).tierRetention).toEqual({ minute: '30d', hour: 'INF' });
    expect(() => loadConfig({ HUB_ROLLUP_MINUTE_RETENTION: 'a month' })).toThrow(/HUB_ROLLUP_MINUTE_RETENTION=a month/);
    expect(() => loadConfig({ HUB_ROLLUP_HOUR_RETENTION: '0d' })).toThrow(ConfigError);
  });

  it('turns INFLUX_RETENTION into milliseconds', () => {
    expect(retentionMs('INF')).toBe(Infinity);
    expect(retentionMs('90s')).toBe(90_000);
    expect(retentionMs('12h')).toBe(12 * 3_600_000);
    expect(retentionMs('30d')).toBe(30 * 86_400_000);
    expect(retentionMs('4W')).toBe(4 * 604_800_000);
  });

  it('turns cluster mode on with both HUB_NATS_URL and HUB_POSTGRES_URL, and refuses half a cluster', () => {
    const influx = { INFLUX_URL: 'http://127.0.0.1:8086/telemetry', HUB_ADMIN_TOKEN: 'a-long-operator-secret' };
    const full = { ...influx, HUB_NATS_URL: 'nats://10.0.0.1:4222, nats://10.0.0.2:4222', HUB_POSTGRES_URL: 'postgres://hub:pw@10.0.0.5:5432/hub', HUB_PORT: '9001' };
    expect(loadConfig(full).cluster).toEqual({ natsServers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'], postgresUrl: 'postgres://hub:pw@10.0.0.5:5432/hub', hubId: expect.stringMatching(/^[A-Za-z0-9_-]+-9001$/) });
    expect(loadConfig({ ...full, HUB_ID: 'hub-a' }).cluster?.hubId).toBe('hub-a');
    expect(loadConfig(influx).cluster).toBeUndefined();
    for (const [env, named] of [
      [{ ...influx, HUB_NATS_URL: 'nats://10.0.0.1:4222' }, 'HUB_POSTGRES_URL'],
      [{ ...influx, HUB_POSTGRES_URL: 'postgres://10.0.0.5/hub' }, 'HUB_NATS_URL'],
      [{ HUB_NATS_URL: 'nats://10.0.0.1:4222', HUB_POSTGRES_URL: 'postgres://10.0.0.5/hub', HUB_ADMIN_TOKEN: 'a-long-operator-secret' }, 'INFLUX_URL'],
      [{ ...full, HUB_POSTGRES_URL: 'mysql://10.0.0.5/hub' }, 'HUB_POSTGRES_URL'],
      [{ ...full, HUB_NATS_URL: 'http://10.0.0.1' }, 'HUB_NATS_URL'],
      [{ ...full, HUB_ID: 'a hub' }, 'HUB_ID'],
      [{ ...influx, HUB_ID: 'hub-a' }, 'HUB_ID'],
      [{ ...full, HUB_ADMIN_TOKEN: '' }, 'HUB_ADMIN_TOKEN'],
    ] as [Record<string, string>, string][]) {
      expect(() => loadConfig(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(named);
    }
  });
});
