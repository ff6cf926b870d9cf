import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overloadMessage, UpstreamLimits } from './limits.js';

const config = { maxRequests: 3, maxPendingRequests: 2, maxRetries: 1, retryAfterS: 2 };

describe('UpstreamLimits', () => {
  it('admits up to maxRequests in flight, refuses past it, and admits again after a release', () => {
    const l = new UpstreamLimits(config);
    assert.equal(l.tryAcquireRequest(), true);
    assert.equal(l.tryAcquireRequest(), true);
    assert.equal(l.tryAcquireRequest(), true);
    assert.equal(l.tryAcquireRequest(), false);
    assert.equal(l.tryAcquireRequest(), false);
    assert.equal(l.inFlight, 3);
    l.releaseRequest();
    assert.equal(l.tryAcquireRequest(), true);
    assert.equal(l.tryAcquireRequest(), false);
    const s = l.stats();
    assert.equal(s.requests, 3);
    assert.equal(s.refusedRequests, 3);
    assert.equal(s.refusedPending, 0);
  });

  it('counts pending and retry slots separately, each with its own refusals', () => {
    const l = new UpstreamLimits(config);
    assert.equal(l.tryAcquirePending(), true);
    assert.equal(l.tryAcquirePending(), true);
    assert.equal(l.tryAcquirePending(), false);
    assert.equal(l.tryAcquireRetry(), true);
    assert.equal(l.tryAcquireRetry(), false);
    // The request slots are untouched by the others.
    assert.equal(l.tryAcquireRequest(), true);
    l.releasePending();
    assert.equal(l.tryAcquirePending(), true);
    l.releaseRetry();
    assert.equal(l.tryAcquireRetry(), true);
    const s = l.stats();
    assert.deepEqual(
      { pending: s.pending, retries: s.retries, requests: s.requests, refusedPending: s.refusedPending, refusedRetries: s.refusedRetries, refusedRequests: s.refusedRequests },
      { pending: 2, retries: 1, requests: 1, refusedPending: 1, refusedRetries: 1, refusedRequests: 0 },
    );
  });

  it('maxPendingRequests 0 refuses every wait for a connection', () => {
    const l = new UpstreamLimits({ ...config, maxPendingRequests: 0 });
    assert.equal(l.tryAcquirePending(), false);
  });

  it('never goes below zero on a release without an acquire, and counts it', () => {
    const l = new UpstreamLimits(config);
    l.releaseRequest();
    l.releasePending();
    l.releaseRetry();
    const s = l.stats();
    assert.equal(s.requests, 0);
    assert.equal(s.unbalancedReleases, 3);
    // The stray releases did not create extra capacity.
    for (let i = 0; i < 3; i++) assert.equal(l.tryAcquireRequest(), true);
    assert.equal(l.tryAcquireRequest(), false);
  });

  it('gives the Retry-After value and a message naming the upstream and the limit', () => {
    const l = new UpstreamLimits(config);
    assert.equal(l.retryAfter, '2');
    assert.match(overloadMessage('products', 'requests', 3), /upstream "products" has 3 requests in flight \(limits\.maxRequests\)/);
    assert.match(overloadMessage('products', 'pending', 2), /limits\.maxPendingRequests/);
    assert.match(overloadMessage('products', 'retries', 1), /limits\.maxRetries/);
  });
});
