// Peer: fast-gateway (restana + fast-proxy-lite, keep-alive http.Agent).
// The installed fast-gateway pulls restana/0http versions that declare node>=22/24
// engines; this file loads them anyway, and the harness reports a failure if they break.
//
// Usage: PORT=8003 UPSTREAM=http://127.0.0.1:7001 node bench/peers/fast-gateway.mjs
import { createRequire } from 'node:module';
import { argValue, watchParent } from '../lib/child-args.mjs';

const require = createRequire(import.meta.url);
const gateway = require('fast-gateway');

const port = Number(argValue('port', 'PORT', '0'));
// prefix '' + the default pathRegex '/*' routes everything and leaves req.url unchanged.
const app = gateway({
  enableServicesEndpoint: false,
  routes: [{ prefix: '', target: argValue('upstream', 'UPSTREAM', 'http://127.0.0.1:7001') }],
});
const server = await app.start(port, '127.0.0.1');
server.keepAliveTimeout = 65_000;
watchParent(() => app.close().then(() => process.exit(0)));
