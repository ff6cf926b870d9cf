// What the demo services share: JSON answers that say who served them, listening with a
// clear error, and a graceful stop on SIGTERM/SIGINT.

/** A `send(res, status, body, headers)` that writes pretty JSON with `x-served-by`. */
export function jsonSender(servedBy) {
  return function send(res, status, body, headers = {}) {
    const json = JSON.stringify(body, null, 2) + '\n';
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      'x-served-by': servedBy,
      ...headers,
    });
    res.end(json);
  };
}

/**
 * Listens and stops gracefully: requests in flight (a slow answer, an event stream) may
 * finish; idle keep-alive connections are closed at once, and whatever is left is cut
 * after 5 s.
 */
export function serve(server, { host, port, servedBy }) {
  server.on('error', (error) => {
    console.error(`${servedBy}: cannot listen on ${host}:${port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    console.log(`${servedBy} listening on http://${host}:${port}`);
  });
  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
