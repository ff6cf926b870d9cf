/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP, port 0) for the DNS discovery tests:
 * answers A, AAAA and SRV questions from a table the test changes, with the TTLs it
 * sets, and can be told to fail (SERVFAIL), to stay silent (a resolver timeout) or to
 * answer NXDOMAIN for everything. Counts the questions it got, by name and type.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

export interface DnsRecords {
  A?: { address: string; ttl: number }[];
  AAAA?: { address: string; ttl: number }[];
  SRV?: { record: SrvRecord; ttl: number }[];
}

export interface TestDnsServer {
  readonly port: number;
  /** `127.0.0.1:PORT`, for `discovery.dns.servers`. */
  readonly address: string;
  /** Records by lower-cased name; change them at will. */
  readonly zone: Map<string, DnsRecords>;
  /** `answer` (default), `servfail`, `silent` (drop every query), `nxdomain` (every name). */
  mode: 'answer' | 'servfail' | 'silent' | 'nxdomain';
  /** Questions received, as `NAME TYPE`. */
  readonly questions: string[];
  close(): Promise<void>;
}

const TYPES: Record<number, 'A' | 'AAAA' | 'SRV'> = { 1: 'A', 28: 'AAAA', 33: 'SRV' };

export async function startDnsServer(): Promise<TestDnsServer> {
  const socket: Socket = createSocket('udp4');
  const server: TestDnsServer = {
    port: 0,
    address: '',
    zone: new Map(),
    mode: 'answer',
    questions: [],
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const q = parseQuestion(msg);
    if (q === null) return;
    server.questions.push(`${q.name} ${TYPES[q.type] ?? q.type}`);
    if (server.mode === 'silent') return;
    socket.send(answer(msg, q, server), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const port = socket.address().port;
  Object.assign(server, { port, address: `127.0.0.1:${port}` });
  return server;
}

interface Question {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  /** Byte offset after the question (type and class included). */
  readonly end: number;
}

function parseQuestion(msg: Buffer): Question | null {
  if (msg.length < 17) return null;
  let i = 12;
  const labels: string[] = [];
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return null;
  return { id: msg.readUInt16BE(0), name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

function answer(query: Buffer, q: Question, server: TestDnsServer): Buffer {
  const records = server.zone.get(q.name);
  const rcode = server.mode === 'servfail' ? 2 : server.mode === 'nxdomain' || records === undefined ? 3 : 0;
  const answers: Buffer[] = [];
  if (rcode === 0) {
    const type = TYPES[q.type];
    if (type === 'A') for (const r of records!.A ?? []) answers.push(rr(1, r.ttl, Buffer.from(r.address.split('.').map(Number))));
    if (type === 'AAAA') for (const r of records!.AAAA ?? []) answers.push(rr(28, r.ttl, ipv6Bytes(r.address)));
    if (type === 'SRV') {
      for (const { record, ttl } of records!.SRV ?? []) {
        const head = Buffer.alloc(6);
        head.writeUInt16BE(record.priority, 0);
        head.writeUInt16BE(record.weight, 2);
        head.writeUInt16BE(record.port, 4);
        answers.push(rr(33, ttl, Buffer.concat([head, encodeName(record.target)])));
      }
    }
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, AA, RD copied, RA; then the rcode.
  header.writeUInt16BE(0x8000 | 0x0400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, query.subarray(12, q.end), ...answers]);
}

/** One resource record named by a pointer to the question's name (offset 12). */
function rr(type: number, ttl: number, data: Buffer): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xc00c, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt32BE(ttl, 6);
  b.writeUInt16BE(data.length, 10);
  return Buffer.concat([b, data]);
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p !== '');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: ${address}`);
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}
