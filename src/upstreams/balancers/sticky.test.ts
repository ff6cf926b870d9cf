import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCtx, makeTargets } from './fakes.js';
import { StickySessions } from './sticky.js';

describe('StickySessions', () => {
  const targets = makeTargets([1, 1, 1]);
  const sticky = new StickySessions({ cookie: 'brisk_sticky', ttlMs: 0 }, targets);

  it('pins a request to the target its cookie names', () => {
    for (const t of targets) {
      const raw = ['Cookie', `theme=dark; brisk_sticky=${t.id}`];
      assert.equal(sticky.targetFromRequest(raw, makeCtx()), t);
    }
  });

  it('returns null without the cookie or for an unknown id', () => {
    assert.equal(sticky.targetFromRequest([], makeCtx()), null);
    assert.equal(sticky.targetFromRequest(['Cookie', 'other=1'], makeCtx()), null);
    assert.equal(sticky.targetFromRequest(['Cookie', 'brisk_sticky=nope'], makeCtx()), null);
  });

  it('falls back (null) when the pinned target is unusable, unless in panic mode', () => {
    const t = targets[1]!;
    const raw = ['cookie', `brisk_sticky=${t.id}`];
    t.available = false;
    assert.equal(sticky.targetFromRequest(raw, makeCtx()), null);
    assert.equal(sticky.targetFromRequest(raw, makeCtx({ panic: true })), t);
    t.available = true;
    assert.equal(sticky.targetFromRequest(raw, makeCtx({ exclude: new Set([t]) })), null, 'a retry goes elsewhere');
    assert.equal(sticky.targetFromRequest(raw, makeCtx()), t, 'back when it is');
  });

  it('pins only within its own upstream (ids derive from the upstream name)', () => {
    const other = makeTargets([1], 'other-upstream')[0]!;
    assert.equal(sticky.targetFromRequest(['Cookie', `brisk_sticky=${other.id}`], makeCtx()), null);
  });

  it('formats the cookie: a session cookie, or Max-Age in seconds', () => {
    const t = targets[0]!;
    assert.equal(sticky.setCookieHeader(t), `brisk_sticky=${t.id}; Path=/; HttpOnly; SameSite=Lax`);
    assert.match(t.id, /^[0-9a-z]+$/, 'a cookie-safe id');
    const timed = new StickySessions({ cookie: 'pin', ttlMs: 3_600_500 }, targets);
    assert.equal(timed.setCookieHeader(t), `pin=${t.id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3601`);
    assert.equal(timed.setCookieHeader(t), timed.setCookieHeader(t));
    const foreign = makeTargets([1], 'x')[0]!;
    assert.equal(timed.setCookieHeader(foreign), `pin=${foreign.id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3601`);
  });

  it('round-trips: the cookie it sets brings the request back', () => {
    const t = targets[2]!;
    const value = sticky.setCookieHeader(t).split(';')[0]!;
    assert.equal(sticky.targetFromRequest(['Cookie', `a=b; ${value}`], makeCtx()), t);
  });
});
