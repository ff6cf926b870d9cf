/**
 * The admin listener's guard against DNS rebinding: a request whose Host is a name (not an
 * IP address or localhost) it was not told about is refused, so that a web page cannot
 * reach the admin API through a DNS name it controls.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.js';

function status(port: number, host: string): Promise<{ status: number; code: string | null }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/api/status', headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.statusCode === 200 ? null : ((JSON.parse(text) as { error: { code: string } }).error.code ?? null) }));
    }).on('error', reject);
  });
}

describe('admin Host guard', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      admin: { address: '127.0.0.1:0', allowedHosts: ['Brisk-Admin.internal'] },
      upstreams: { app: { targets: [{ url: 'http://127.0.0.1:1' }] } },
      routes: [{ name: 'r', upstream: 'app' }],
    });
  });
  after(() => gw.stop());

  it('answers IP addresses, localhost and allowedHosts; refuses other names with a code', async () => {
    const port = gw.gw.admin!.port;
    for (const host of [`127.0.0.1:${port}`, `[::1]:${port}`, `localhost:${port}`, 'brisk-admin.internal', `BRISK-ADMIN.internal:${port}`]) {
      assert.equal((await status(port, host)).status, 200, host);
    }
    const refused = await status(port, `attacker.example:${port}`);
    assert.equal(refused.status, 403);
    assert.equal(refused.code, 'BRISK_ADMIN_HOST_REJECTED');
  });
});
