/**
 * `npm start`: the shop on 127.0.0.1 — the storefront and API on :8080, the dashboard on
 * :9901, the demo IM group on :7401 — until Ctrl-C.
 *
 *   npm start                 # embedded: one PGlite per service, memory caches; nothing to install
 *   npm start -- --real       # PostgreSQL primary + streaming replica and Redis, started locally
 *
 * Ports: SHOP_PORT, SHOP_ADMIN_PORT, SHOP_IM_PORT. Ctrl-C (or SIGTERM) stops Brisk, which
 * drains and stops the services, then the databases; a second Ctrl-C kills at once.
 */
import { canBind, startStack, type Stack } from './stack.js';

const useColor = process.stdout.isTTY && !process.env['NO_COLOR'];
const bold = (s: string) => (useColor ? `\x1b[1m${s}\x1b[22m` : s);
const cyan = (s: string) => (useColor ? `\x1b[36m${s}\x1b[39m` : s);
const say = (line: string) => process.stdout.write(`[shop] ${line}\n`);

function banner(stack: Stack, real: boolean): string {
  const key = stack.internalKey;
  return [
    '',
    bold('The Brisk shop is open.'),
    `  storefront     ${cyan(`${stack.url}/`)}   (demo account: demo@shop.test / demo-password)`,
    `  catalogue API  ${cyan(`${stack.url}/api/products`)}`,
    `  dashboard      ${cyan(`${stack.adminUrl}/dashboard`)}   (services, routes, upstreams, alerts)`,
    `  IM group       ${stack.imUrl}/webhook   (alerts and support hand-offs print here as [im] lines)`,
    `  support agents ${cyan(`${stack.url}/support/agent`)}   (agent token: ${stack.agentToken}; the chat is the 💬 on the storefront)`,
    `  data           ${real ? 'PostgreSQL primary + streaming replica, Redis (started locally)' : 'embedded PostgreSQL (PGlite) per service, memory caches'}`,
    '',
    'Try:',
    `  curl -s '${stack.url}/api/products?q=tea' | head -c 300; echo`,
    `  curl -s ${stack.adminUrl}/api/services | head -c 400; echo         # the services Brisk runs`,
    `  kill -9 <a pid from /api/services>                                   # Brisk replaces it; nothing fails`,
    `  curl -s -X PUT -H 'x-api-key: ${key}' -H 'content-type: application/json' \\`,
    `       -d '{"declineRate":0.5}' ${stack.url}/internal/payments/provider      # half the cards declined`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

/** Runs the shop until a signal; resolves with the exit code. */
export async function runShop(args: string[]): Promise<number> {
  const unknown = args.filter((a) => a !== '--real');
  if (unknown.length > 0) {
    process.stderr.write(`[shop] unknown argument ${unknown[0]}; usage: npm start [-- --real]\n`);
    return 2;
  }
  const real = args.includes('--real');
  const port = Number(process.env['SHOP_PORT'] ?? 8080);
  const adminPort = Number(process.env['SHOP_ADMIN_PORT'] ?? 9901);
  const imPort = Number(process.env['SHOP_IM_PORT'] ?? 7401);
  const taken = [];
  for (const [p, what] of [
    [port, 'the storefront and API'],
    [adminPort, 'the dashboard and admin API'],
    [imPort, 'the demo IM group'],
  ] as const) {
    if (!(await canBind(p))) taken.push(`port 127.0.0.1:${p} (for ${what}) is in use`);
  }
  if (taken.length > 0) {
    for (const t of taken) process.stderr.write(`[shop] ${t}\n`);
    process.stderr.write('[shop] Another shop may still run (stop it with Ctrl-C), or choose ports: SHOP_PORT=8180 SHOP_ADMIN_PORT=9911 SHOP_IM_PORT=7411 npm start\n');
    return 1;
  }
  say(real ? 'starting PostgreSQL (primary + replica) and Redis, then Brisk and the services…' : 'starting the embedded databases, then Brisk and the services…');
  // Signals are taken from here on: one during the start stops the shop once it is up (a
  // default SIGINT would kill this process and leave Brisk and the services behind).
  let stopRequested: ((reason: string) => void) | undefined;
  const stopSignal = new Promise<string>((resolve) => (stopRequested = resolve));
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => stopRequested!(s));
  let stack: Stack;
  try {
    stack = await startStack({ real, port, adminPort, imPort });
  } catch (error) {
    process.stderr.write(`[shop] could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  process.stdout.write(banner(stack, real));
  stack.gateway.once('exit', (code, sig) => stopRequested!(`Brisk exited (${sig ?? `code ${code}`})`));
  const signal = await stopSignal;
  say(`${signal}: stopping (Brisk drains, then the services and the databases stop)`);
  const hard = () => {
    say('second signal: killing now');
    stack.gateway.kill('SIGKILL');
    process.exit(1);
  };
  process.once('SIGINT', hard);
  process.once('SIGTERM', hard);
  await stack.stop();
  say('stopped');
  return 0;
}
