// Runs one autocannon measurement in its own (pinned) process and prints one JSON line,
// so that the load generator never shares an event loop with the harness.
import autocannon from 'autocannon';

const { url, connections, duration, headers } = JSON.parse(process.argv[2]);
const r = await autocannon({ url, connections, duration, pipelining: 1, timeout: 4, headers: headers ?? {} });
// autocannon counts timeouts inside `errors`.
const socketErrors = r.errors;
const out = {
  requests: r.requests.total,
  bytes: r.throughput.total,
  rps: r.requests.total / (r.duration || duration),
  p50: r.latency.p50,
  p99: r.latency.p99,
  non2xx: r.non2xx,
  socketErrors,
  errors: r.non2xx + socketErrors,
};
process.stdout.write(`ACJSON ${JSON.stringify(out)}\n`);
