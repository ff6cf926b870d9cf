import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CacheStats } from '../middlewares/cache/middleware.js';
import { labelProcessFamilies, sumCacheStats } from './node-views.js';

const stats = (over: Partial<CacheStats>): CacheStats => ({ hits: 0, misses: 0, stale: 0, revalidated: 0, expired: 0, bypass: 0, stored: 0, collapsed: 0, memoryBytes: 0, memoryEntries: 0, redis: 'off', ...over });

test('route cache counters are summed route by route; Redis is down when any worker finds it down', () => {
  const sum = sumCacheStats([{ a: stats({ hits: 3, misses: 1, memoryEntries: 1, redis: 'up' }), b: stats({ hits: 1 }) }, { a: stats({ hits: 2, misses: 1, memoryEntries: 1, redis: 'down' }) }]);
  assert.deepEqual(sum['a'], stats({ hits: 5, misses: 2, memoryEntries: 2, redis: 'down' }));
  assert.deepEqual(sum['b'], stats({ hits: 1 }));
  assert.equal(sumCacheStats([{ a: stats({ redis: 'off' }) }, { a: stats({ redis: 'up' }) }])['a']!.redis, 'up');
});

test('process families of several processes: each family once, every sample labelled by process', () => {
  const primary = '# HELP p_cpu CPU.\n# TYPE p_cpu counter\np_cpu 1.5\n\n# HELP gc GC.\n# TYPE gc histogram\ngc_bucket{le="0.1",kind="major"} 2\ngc_sum{kind="major"} 0.01\ngc_count{kind="major"} 2\n';
  const worker = '# HELP p_cpu CPU.\n# TYPE p_cpu counter\np_cpu 3\n\n# HELP only_here Only in the worker.\n# TYPE only_here gauge\nonly_here{} 7\n';
  const text = labelProcessFamilies([
    ['primary', primary],
    ['1', worker],
  ]);
  assert.equal(
    text,
    [
      '# HELP p_cpu CPU.',
      '# TYPE p_cpu counter',
      'p_cpu{worker="primary"} 1.5',
      'p_cpu{worker="1"} 3',
      '# HELP gc GC.',
      '# TYPE gc histogram',
      'gc_bucket{worker="primary",le="0.1",kind="major"} 2',
      'gc_sum{worker="primary",kind="major"} 0.01',
      'gc_count{worker="primary",kind="major"} 2',
      '# HELP only_here Only in the worker.',
      '# TYPE only_here gauge',
      'only_here{worker="1"} 7',
      '',
    ].join('\n'),
  );
});
