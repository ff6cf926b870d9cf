// The SIGKILL bar of the workers proof, counted honestly: which requests the killed worker
// had in flight, seen from both sides.
//
// The worker side: at the SIGKILL, the victim's client connections are read from its file
// descriptor table and the kernel's TCP table: the sockets whose local port is the
// listener's (their client ports, and the bytes the kernel holds unread for it on each).
// It is frozen (SIGSTOP) only for the last look at its descriptors, a millisecond or so.
//
// The client side: the load generator notes on which connection (client port) each request
// was written and when. The victim's requests in flight are the requests written on one of
// its connections that it never answered (a dead process writes nothing, so an answer
// received after the kill was written before it):
//   - `inFlightAtKill`: written before the kill (in its socket's buffer or being served);
//   - `inFlight`: that, plus those written on its connections after the kill signal, before
//     the process was torn down and the client saw the connection close (they reached its
//     socket and were never read).
// Errors are then split into those on the victim's connections and those elsewhere (which
// must be none: a connection sent to the victim but not yet taken is served by another
// worker, src/workers/distributor.ts).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The socket inodes in `pid`'s descriptor table; `known` (fd → inode) skips links read before. */
function socketInodes(pid, known = new Map()) {
  const now = new Map();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const before = known.get(fd);
    if (before !== undefined) {
      now.set(fd, before);
      continue;
    }
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      now.set(fd, m === null ? '' : m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  return now;
}

/** Client port → unread bytes of the sockets among `inodes` accepted on `serverPort` (the kernel's TCP tables). */
function tcpByInode(inodes, serverPort) {
  const out = new Map();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9])) continue;
      if (parseInt(f[1].split(':')[1], 16) !== serverPort) continue;
      out.set(parseInt(f[2].split(':')[1], 16), parseInt(f[4].split(':')[1], 16));
    }
  }
  return out;
}

/**
 * The victim's client connections at its death: its descriptor table and the TCP table are
 * read while it runs (the slow part: tens of milliseconds on a loaded machine), then it is
 * frozen (SIGSTOP), the descriptor table is listed again (only descriptors new since are
 * looked at: a millisecond or so; the TCP table again only if some are), and it is killed. A
 * frozen process accepts nothing, so the set is exact at its death.
 *
 * Nothing is read after the kill: the kernel tears a killed process's sockets down while a
 * read of the TCP table runs, and a socket closed by then is listed without its inode. (Read
 * after the kill, as until 2026-12-07, the table missed 11 of a victim's 25 connections in one
 * kill on a loaded machine, whose errors then counted as errors elsewhere: the primary's log
 * showed all 25 sent to and taken by the victim.)
 */
export function readAndKill(pid, serverPort) {
  const from = performance.now();
  const fds = socketInodes(pid);
  const running = tcpByInode(new Set(fds.values()), serverPort);
  process.kill(pid, 'SIGSTOP');
  const frozenAt = performance.now();
  let final;
  try {
    final = socketInodes(pid, fds);
  } catch {
    final = fds;
  }
  const changed = [...final].some(([fd, inode]) => fds.get(fd) !== inode);
  // The TCP table again only while frozen, when the descriptors changed (a connection taken meanwhile).
  const conns = changed ? tcpByInode(new Set(final.values()), serverPort) : running;
  const killedAt = performance.now();
  process.kill(pid, 'SIGKILL');
  return { conns, readMs: frozenAt - from, frozenMs: killedAt - frozenAt, killedEpochMs: performance.timeOrigin + killedAt };
}

/**
 * `readAndKill` in a process of its own: read here, the synchronous reads would stall the
 * load generator (tens of milliseconds on a loaded machine), which would then find a pile of
 * answers the victim wrote before it died and write its queued requests onto those
 * connections after the kill: losses the proof itself caused.
 *
 * Resolves with the kill instant on the load generator's clock, how long the read and the
 * freeze took, and the victim's connections (client port → unread bytes).
 */
export function snapshotAndKill(pid, serverPort, load) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(pid), String(serverPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the victim's connections could not be read (exit ${code})`));
      const r = JSON.parse(out);
      // Both clocks are the system's: the child's kill instant, on the load generator's.
      const killedAt = r.killedEpochMs - (performance.timeOrigin + load.started);
      resolve({ killedAt, readMs: Math.round(r.readMs * 10) / 10, frozenMs: Math.round(r.frozenMs * 10) / 10, conns: new Map(r.conns) });
    });
  });
}

// As a process: `node victim.mjs PID PORT` reads, kills, prints what it read.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [pid, port] = process.argv.slice(2).map(Number);
  const r = readAndKill(pid, port);
  process.stdout.write(JSON.stringify({ ...r, conns: [...r.conns] }));
}

/** The victim's requests in flight and the errors, from the load generator's outcomes (see the top of this file). */
export function victimAccount(load, killedAt, conns, windowMs = 3000) {
  const mine = (row) => row.conn != null && conns.has(row.conn.port) && row.conn.openedAt <= killedAt;
  let atKill = 0;
  let afterKill = 0;
  let answeredAfter = 0;
  const lostKinds = {};
  for (const row of load.results) {
    if (!mine(row) || row.t + row.ms < killedAt) continue;
    // An answer received after the kill was written before it (a dead process writes
    // nothing), or by another worker (a connection it never took, handed over): not lost.
    if (row.ok) answeredAfter++;
    else lostKinds[row.error ?? row.status] = (lostKinds[row.error ?? row.status] ?? 0) + 1;
    if (row.ok) continue;
    if (row.writtenAt !== null && row.writtenAt <= killedAt) atKill++;
    else afterKill++;
  }
  // Every failure whose outcome came after the kill, of the requests sent until `windowMs` after it.
  const errors = load.results.filter((row) => !row.ok && row.t + row.ms >= killedAt && row.t < killedAt + windowMs);
  const onVictim = errors.filter(mine).length;
  const elsewhere = errors.filter((row) => !mine(row)).map((row) => ({ sentMs: Math.round(row.t - killedAt), error: row.error ?? row.status, port: row.conn?.port ?? null, openedMs: row.conn == null ? null : Math.round(row.conn.openedAt - killedAt), writtenMs: row.writtenAt == null ? null : Math.round(row.writtenAt - killedAt) }));
  const kinds = {};
  for (const e of errors) kinds[e.error ?? String(e.status)] = (kinds[e.error ?? String(e.status)] ?? 0) + 1;
  let unread = 0;
  for (const bytes of conns.values()) if (bytes > 0) unread++;
  return {
    connections: conns.size,
    connectionsWithUnreadBytes: unread,
    inFlightAtKill: atKill,
    inFlight: atKill + afterKill,
    inFlightOutcomes: lostKinds,
    answeredAfterKill: answeredAfter,
    errors: errors.length,
    errorsOnVictim: onVictim,
    errorsElsewhere: errors.length - onVictim,
    elsewhere,
    errorKinds: kinds,
  };
}
