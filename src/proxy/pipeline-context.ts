import type { ClientRequest } from '../core/http.js';
import type { Identity, RequestContext, ResponseObserver } from '../core/middleware.js';
import type { ResponseTransform } from '../core/response-transform.js';
import type { ForwardPlan } from './context.js';

/**
 * The view of a planned request that middlewares get. Made only for routes that have
 * middlewares; writes go through to the plan, so what auth decides reaches the exchange.
 */
export class PipelineContext implements RequestContext {
  readonly method: string;
  readonly rawHeaders: readonly string[];
  constructor(
    private readonly plan: ForwardPlan,
    req: ClientRequest,
  ) {
    this.method = req.method!;
    this.rawHeaders = req.rawHeaders;
  }
  get path(): string {
    return this.plan.path;
  }
  get query(): string {
    return this.plan.query;
  }
  get clientIp(): string {
    return this.plan.clientIp;
  }
  get scheme(): 'http' | 'https' {
    return this.plan.scheme;
  }
  get requestId(): string {
    return this.plan.requestId!;
  }
  get routeName(): string {
    return this.plan.route!.name;
  }
  get params(): Readonly<Record<string, string>> | null {
    return this.plan.params;
  }
  get upstreamHeaders(): string[] {
    return this.plan.headers;
  }
  get responseHeaders(): string[] | null {
    return this.plan.responseHeaders;
  }
  set responseHeaders(value: string[] | null) {
    this.plan.responseHeaders = value;
  }
  get identity(): Identity | null {
    return this.plan.identity;
  }
  set identity(value: Identity | null) {
    this.plan.identity = value;
  }
  onFinish(cb: (status: number) => void): void {
    this.plan.onFinish(cb);
  }
  observeResponse(observer: ResponseObserver): void {
    this.plan.observer = observer;
  }
  transformResponse(transform: ResponseTransform): void {
    this.plan.transform = transform;
  }
  spawnDetached(headers: string[], observer: ResponseObserver): boolean {
    return this.plan.spawnDetached(headers, observer);
  }
  get cacheStatus(): string | null {
    return this.plan.cacheStatus;
  }
  set cacheStatus(value: string | null) {
    this.plan.cacheStatus = value;
  }
}
