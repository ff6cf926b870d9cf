// An open-loop HTTP/1.1 load generator, wrk2's method, small enough to read in one sitting.
//
// Why C: the bench's generator shares one core with the upstream on a 2-CPU machine. The
// Node generator it replaces fell 20-190 ms behind its own schedule there (its event loop,
// its GC, its 1 ms timers), so every p99 it measured was its own. This one sleeps on a
// timerfd until the next request is due, allocates nothing after start, and spends a few
// microseconds per request.
//
// Method (wrk2): the send times are fixed in advance. Request n of the run is due at
// t0 + n / rate and belongs to connection n % C, so each of the C keep-alive connections
// sends every C / rate seconds. Its latency runs from when it was *due*, not from when it
// went out: a request whose connection is still waiting for an earlier answer waits too,
// and is charged for it. A proxy that stalls for 100 ms is then charged on every request
// that fell due meanwhile, as its users would be (a closed-loop tool would report the
// stall once: "coordinated omission").
//
//   open-loop -u http://127.0.0.1:8080/1k -r 5000 -d 5 -c 50 [-w 2] [-H 'name: value']...
//
// -w: seconds of warm-up on the same schedule before the measured seconds (not recorded).
// Prints one line `OLJSON {...}` (the shape bench/lib/open-loop.mjs prints): latencies in
// ms, errors, and `lateMs` / `lateP99Ms`: how far behind its schedule the generator itself
// was when it handled a due time. When that is large, the latencies are the machine's.
// Answers are framed by Content-Length or chunked encoding (all the bench's servers use one).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

// ---- Histogram: 1 us buckets below 1024 us, then 128 per power of two (each at most
// 1/128 = 0.8 % wide), so a percentile is exact to 1 us below 1 ms and within 0.4 % above
// (the middle of its bucket is reported). 40 powers of two reach 12 days.
#define LINEAR 1024
#define SUB 128
#define NBUCKETS (LINEAR + (40 - 10) * SUB)

typedef struct {
  uint64_t n, max, b[NBUCKETS];
} hist;

static unsigned bucket_of(uint64_t us) {
  if (us < LINEAR) return (unsigned)us;
  int e = 63 - __builtin_clzll(us); // 2^e <= us < 2^(e+1), e >= 10
  if (e >= 40) return NBUCKETS - 1;
  return LINEAR + (unsigned)(e - 10) * SUB + (unsigned)((us >> (e - 7)) & (SUB - 1));
}

/** The middle of bucket b, in us. */
static double bucket_mid(unsigned b) {
  if (b < LINEAR) return b;
  unsigned e = 10 + (b - LINEAR) / SUB;
  double width = (double)(1ULL << (e - 7));
  return (double)(1ULL << e) + (double)((b - LINEAR) % SUB) * width + width / 2;
}

static void record(hist *h, uint64_t us) {
  h->n++;
  h->b[bucket_of(us)]++;
  if (us > h->max) h->max = us;
}

/** The value at rank ceil(p * n), in ms (never above the exact maximum); NAN when empty. */
static double pct_ms(const hist *h, double p) {
  if (h->n == 0) return NAN;
  uint64_t rank = (uint64_t)ceil(p * (double)h->n), seen = 0;
  if (rank < 1) rank = 1;
  for (unsigned b = 0; b < NBUCKETS; b++) {
    seen += h->b[b];
    if (seen >= rank) return fmin(bucket_mid(b), (double)h->max) / 1000.0;
  }
  return (double)h->max / 1000.0;
}

// ---- Connections and answers.
enum { HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, TRAILER };

typedef struct {
  int fd, idx;
  int connecting, busy, want_out;
  uint64_t ready; // requests of this connection that have fallen due so far
  uint64_t next;  // the next of them to send (the one in flight while busy)
  uint64_t due;   // when the request in flight was due (ns)
  size_t woff;    // bytes of it written: a partial write waits for EPOLLOUT
  int state, status, in_ext;
  char head[8192 + 1];
  size_t hlen, line;
  uint64_t remain, chunk;
} conn;

static struct sockaddr_in addr;
static char request[4096];
static size_t reqlen;
static conn *conns;
static int nconns, ep;
static double interval_ns; // between two due times, all connections together
static uint64_t t0, total, warm, completed, non2xx, dispatched, reconnects;
static hist lat, late;
static char problem[160];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t due_of(uint64_t n) { return t0 + (uint64_t)((double)n * interval_ns); }

static void note_problem(const char *what) {
  if (problem[0] == 0) snprintf(problem, sizeof problem, "%s", what);
}

static void watch(conn *c, int op) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(ep, op, c->fd, &ev);
}

static int open_conn(conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  c->connecting = 1;
  c->want_out = 1; // writable = connected
  c->busy = 0;
  watch(c, EPOLL_CTL_ADD);
  return 0;
}

/** Write (the rest of) the request in flight; EPOLLOUT only while a write is unfinished. */
static void flush(conn *c) {
  while (c->woff < reqlen) {
    ssize_t w = write(c->fd, request + c->woff, reqlen - c->woff);
    if (w < 0) {
      if (errno == EAGAIN) break;
      return; // the read side sees the error and drops the connection
    }
    c->woff += (size_t)w;
  }
  int out = c->woff < reqlen;
  if (out != c->want_out) {
    c->want_out = out;
    watch(c, EPOLL_CTL_MOD);
  }
}

/** Send this connection's next due request, if it has one and is free to. */
static void try_send(conn *c) {
  if (c->fd < 0 || c->connecting || c->busy || c->next >= c->ready) return;
  c->busy = 1;
  c->due = due_of(c->next * (uint64_t)nconns + (uint64_t)c->idx);
  c->woff = 0;
  c->state = HEAD;
  c->hlen = 0;
  flush(c);
}

static void drop(conn *c, const char *why) {
  note_problem(why);
  if (c->busy) c->next++; // that request is lost: an error (never completed)
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  // Reconnect so the schedule goes on, but not forever against a server that is gone.
  if (++reconnects <= 1000 && open_conn(c) == 0) return;
  note_problem("cannot reconnect");
}

static void complete(conn *c, uint64_t now) {
  // Requests due during the warm-up are not recorded.
  if (c->next * (uint64_t)nconns + (uint64_t)c->idx >= warm) {
    record(&lat, (now - c->due + 500) / 1000);
    completed++;
    if (c->status < 200 || c->status > 399) non2xx++;
  }
  c->busy = 0;
  c->next++;
  try_send(c);
}

/** The head is c->head[0..end): the status, and how the body is framed. */
static int parse_head(conn *c, size_t end) {
  c->head[end] = 0;
  if (end < 12 || strncmp(c->head, "HTTP/1.", 7) != 0) return -1;
  c->status = atoi(c->head + 9);
  const char *te = strcasestr(c->head, "\r\ntransfer-encoding:");
  if (te != NULL) {
    const char *eol = strstr(te + 2, "\r\n");
    const char *ch = strcasestr(te, "chunked");
    if (ch == NULL || (eol != NULL && ch > eol)) return -1;
    c->state = CHUNK_SIZE, c->chunk = 0, c->in_ext = 0;
    return 0;
  }
  const char *cl = strcasestr(c->head, "\r\ncontent-length:");
  if (cl == NULL) return -1; // a body up to the close: no bench server answers so
  c->remain = strtoull(cl + 17, NULL, 10);
  c->state = BODY;
  return 0;
}

/** Feed answer bytes; -1 on an answer the generator cannot read (or one nobody asked for). */
static int feed(conn *c, const char *p, size_t n, uint64_t now) {
  while (n > 0) {
    if (!c->busy) return -1;
    switch (c->state) {
    case HEAD: {
      size_t old = c->hlen, room = sizeof c->head - 1 - old, take = n < room ? n : room;
      memcpy(c->head + old, p, take);
      c->hlen += take;
      size_t from = old > 3 ? old - 3 : 0; // the blank line may straddle two reads
      char *end = memmem(c->head + from, c->hlen - from, "\r\n\r\n", 4);
      if (end == NULL) return c->hlen == sizeof c->head - 1 ? -1 : 0;
      size_t hend = (size_t)(end - c->head) + 4, used = hend - old;
      if (parse_head(c, hend - 2) < 0) return -1;
      p += used, n -= used;
      if (c->state == BODY && c->remain == 0) complete(c, now);
      break;
    }
    case BODY:
    case CHUNK_DATA: {
      size_t take = n < c->remain ? n : (size_t)c->remain;
      c->remain -= take, p += take, n -= take;
      if (c->remain > 0) break;
      if (c->state == BODY) complete(c, now);
      else c->state = CHUNK_SIZE, c->chunk = 0, c->in_ext = 0;
      break;
    }
    case CHUNK_SIZE: { // hex size [; extensions] CRLF
      char ch = *p++;
      n--;
      if (ch == '\n') {
        if (c->chunk == 0) c->state = TRAILER, c->line = 0;
        else c->state = CHUNK_DATA, c->remain = c->chunk + 2; // the data and its CRLF
      } else if (ch == ';') c->in_ext = 1;
      else if (!c->in_ext && ch != '\r') {
        int lc = ch | 0x20, d = ch >= '0' && ch <= '9' ? ch - '0' : lc >= 'a' && lc <= 'f' ? lc - 'a' + 10 : -1;
        if (d < 0) return -1;
        c->chunk = c->chunk * 16 + (uint64_t)d;
      }
      break;
    }
    case TRAILER: { // trailer lines until an empty one
      char ch = *p++;
      n--;
      if (ch == '\n') {
        if (c->line == 0) complete(c, now);
        c->line = 0;
      } else if (ch != '\r') c->line++;
      break;
    }
    }
  }
  return 0;
}

static int parse_url(const char *url, char *path, size_t pathlen, char *hostport, size_t hplen) {
  unsigned a, b, cc, d, port = 80;
  int used = 0;
  if (sscanf(url, "http://%u.%u.%u.%u%n", &a, &b, &cc, &d, &used) != 4 || used == 0) return -1;
  char *rest = (char *)url + used;
  if (*rest == ':') port = (unsigned)strtoul(rest + 1, &rest, 10);
  snprintf(path, pathlen, "%s", *rest ? rest : "/");
  snprintf(hostport, hplen, "%u.%u.%u.%u:%u", a, b, cc, d, port);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(a << 24 | b << 16 | cc << 8 | d);
  return 0;
}

/** A number for the JSON line: a run with no answer has no percentiles (null, not "nan"). */
static const char *jnum(char *out, double v) {
  if (isnan(v)) return "null";
  sprintf(out, "%.3f", v);
  return out;
}

/** Wait (up to 1 s) for the connections to open, so the schedule does not start late. */
static int open_all(const char *hostport) {
  struct epoll_event evs[64];
  uint64_t start = now_ns();
  int open = 0;
  for (int i = 0; i < nconns; i++)
    if (open_conn(&conns[i]) < 0) return fprintf(stderr, "open-loop: connect to %s: %s\n", hostport, strerror(errno)), -1;
  while (open < nconns && now_ns() - start < 1000000000ULL) {
    int k = epoll_wait(ep, evs, 64, 100);
    for (int i = 0; i < k; i++) {
      conn *c = evs[i].data.ptr;
      int err = 0;
      socklen_t len = sizeof err;
      if (c == NULL || !c->connecting) continue;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fprintf(stderr, "open-loop: connect to %s: %s\n", hostport, strerror(err)), -1;
      c->connecting = 0, c->want_out = 0, open++;
      watch(c, EPOLL_CTL_MOD);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *url = NULL;
  double rate = 0, seconds = 5, warmup = 0;
  char headers[2048] = "", path[2048], hostport[64];
  int opt;
  nconns = 50;
  while ((opt = getopt(argc, argv, "u:r:d:c:w:H:")) != -1) {
    if (opt == 'u') url = optarg;
    else if (opt == 'r') rate = atof(optarg);
    else if (opt == 'd') seconds = atof(optarg);
    else if (opt == 'c') nconns = atoi(optarg);
    else if (opt == 'w') warmup = atof(optarg);
    else if (opt == 'H' && strlen(headers) + strlen(optarg) + 3 < sizeof headers) strcat(strcat(headers, optarg), "\r\n");
    else return fprintf(stderr, "usage: open-loop -u URL -r RATE [-d S] [-c CONNS] [-w S] [-H 'name: value']...\n"), 2;
  }
  if (url == NULL || rate <= 0 || seconds <= 0 || nconns < 1 || parse_url(url, path, sizeof path, hostport, sizeof hostport) < 0)
    return fprintf(stderr, "open-loop: need -u http://A.B.C.D:PORT/path, -r RATE > 0, -d SECONDS > 0\n"), 2;
  reqlen = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: brisk-open-loop\r\n%s\r\n", path, hostport, headers);
  interval_ns = 1e9 / rate;
  warm = (uint64_t)llround(rate * warmup);
  total = warm + (uint64_t)fmax(1, (double)llround(rate * seconds));
  // Timers fire within their thread's slack (50 us by default); 1 us keeps the schedule tight.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

  ep = epoll_create1(EPOLL_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) conns[i].idx = i;
  if (open_all(hostport) < 0) return 1;

  static char buf[256 * 1024];
  struct epoll_event evs[64];
  t0 = now_ns() + 1000000; // the first request is due 1 ms from now
  uint64_t deadline = due_of(total - 1) + 5000000000ULL, armed = 0; // then give up on the rest
  for (;;) {
    uint64_t now = now_ns();
    // Every request that has fallen due goes to its connection (sent now if it is free).
    for (; dispatched < total && due_of(dispatched) <= now; dispatched++) {
      if (dispatched >= warm) record(&late, (now - due_of(dispatched)) / 1000);
      conn *c = &conns[dispatched % (uint64_t)nconns];
      c->ready++;
      try_send(c);
    }
    int idle = dispatched == total;
    for (int i = 0; idle && i < nconns; i++) idle = conns[i].fd < 0 || (!conns[i].busy && conns[i].next >= conns[i].ready);
    if (idle || now >= deadline) break;
    uint64_t wake = dispatched < total ? due_of(dispatched) : deadline;
    if (wake != armed) { // the timerfd wakes the loop at the next due time, to the microsecond
      struct itimerspec its = {.it_value = {.tv_sec = (time_t)(wake / 1000000000ULL), .tv_nsec = (long)(wake % 1000000000ULL)}};
      timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
      armed = wake;
    }
    int k = epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < k; i++) {
      conn *c = evs[i].data.ptr;
      if (c == NULL) { // the timer: clear it; the loop's top sends what is due
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) < 0) expirations = 0;
        armed = 0;
        continue;
      }
      if (c->fd < 0) continue;
      if (c->connecting) { // a reconnection finished (or failed)
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          drop(c, "reconnect failed");
          continue;
        }
        c->connecting = 0, c->want_out = 0;
        watch(c, EPOLL_CTL_MOD);
        try_send(c);
        continue;
      }
      if (evs[i].events & EPOLLOUT) flush(c);
      if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
          if (feed(c, buf, (size_t)r, now_ns()) < 0) drop(c, "an answer the generator cannot read");
        } else if (r == 0 || errno != EAGAIN) drop(c, r == 0 ? "connection closed by the server" : "read error");
      }
    }
  }

  char s50[32], s99[32], s999[32], smax[32];
  double measured = (double)(total - warm);
  printf("OLJSON {\"generator\":\"c\",\"rate\":%.0f,\"sent\":%.0f,\"completed\":%llu,\"errors\":%.0f,\"non2xx\":%llu,"
         "\"p50\":%s,\"p99\":%s,\"p999\":%s,\"max\":%s,\"achievedRate\":%.1f,\"lateMs\":%.3f,\"lateP99Ms\":%.3f,"
         "\"reconnects\":%llu,\"problem\":",
         rate, measured, (unsigned long long)completed, measured - (double)completed + (double)non2xx, (unsigned long long)non2xx,
         jnum(s50, pct_ms(&lat, 0.5)), jnum(s99, pct_ms(&lat, 0.99)), jnum(s999, pct_ms(&lat, 0.999)),
         jnum(smax, lat.n ? (double)lat.max / 1000.0 : NAN), (double)completed / seconds,
         late.n ? (double)late.max / 1000.0 : 0.0, late.n ? pct_ms(&late, 0.99) : 0.0, (unsigned long long)reconnects);
  if (problem[0]) printf("\"%s\"}\n", problem); // fixed texts: nothing to escape
  else printf("null}\n");
  return 0;
}
