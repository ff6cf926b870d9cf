/**
 * Per-method numbers of gRPC calls (`/package.Service/Method`), kept on the route that
 * took them: calls by gRPC status and a latency histogram. The method comes from the
 * request path, which the client chooses, so a route keeps at most
 * {@link MAX_GRPC_METHODS} of them; calls to further methods count under `(other)`.
 */
import { GRPC_STATUS_NAMES } from '../core/grpc.js';
import { BUCKETS, bucketOf } from './histogram.js';
import { labelString } from './labels.js';

/** Distinct methods kept per route; a route matching a whole service rarely has more. */
export const MAX_GRPC_METHODS = 100;

/** Label value of a call with no gRPC status (the stream was reset). */
export const NO_STATUS = 'NONE';

/** One method's numbers; `buckets`/`sumMs`/`requests` read like a latency series. */
export class GrpcMethodRec {
  /** By status code 0–16, then one for "no status". */
  readonly byStatus = new Float64Array(GRPC_STATUS_NAMES.length + 1);
  readonly buckets = new Float64Array(BUCKETS);
  sumMs = 0;
  requests = 0;
  /** `grpc_service="…",grpc_method="…"`, escaped once. */
  readonly labels: string;
  constructor(service: string, method: string) {
    this.labels = labelString('grpc_service', service, 'grpc_method', method);
  }
}

/** The gRPC methods of one route. */
export class GrpcMethods {
  readonly methods = new Map<string, GrpcMethodRec>();
  private other: GrpcMethodRec | null = null;

  /** Records one call to `path` that ended with gRPC `status` (-1: none) after `ms`. */
  add(path: string, status: number, ms: number): void {
    let m = this.methods.get(path);
    if (m === undefined) {
      if (this.methods.size < MAX_GRPC_METHODS) {
        const slash = path.indexOf('/', 1);
        m = new GrpcMethodRec(slash === -1 ? path.slice(1) : path.slice(1, slash), slash === -1 ? '' : path.slice(slash + 1));
        this.methods.set(path, m);
      } else m = this.other ??= new GrpcMethodRec('(other)', '(other)');
    }
    m.byStatus[status >= 0 && status < GRPC_STATUS_NAMES.length ? status : GRPC_STATUS_NAMES.length]!++;
    m.buckets[bucketOf(ms)]!++;
    m.sumMs += ms;
    m.requests++;
  }

  /** Every method record, `(other)` last. */
  all(): GrpcMethodRec[] {
    const list = [...this.methods.values()];
    if (this.other !== null) list.push(this.other);
    return list;
  }
}

/** The label value of a status index of `byStatus`. */
export function grpcStatusLabel(index: number): string {
  return GRPC_STATUS_NAMES[index] ?? NO_STATUS;
}
