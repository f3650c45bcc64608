import { describe, expect, it } from 'vitest';
import { href } from '../../../web/src/format';
import { parseRoute } from '../../../web/src/route';

describe('dashboard routes', () => {
  it('reads the routes the page links to, ids decoded', () => {
    expect(parseRoute(href('batches', 'b:1.x', 'tasks', 'api-2'))).toEqual({
      view: 'task',
      batchId: 'b:1.x',
      taskId: 'api-2',
    });
    expect(parseRoute('#/batches/b%201')).toEqual({ view: 'batch', batchId: 'b 1' });
    expect(parseRoute('#/agents')).toEqual({ view: 'agents' });
    expect(parseRoute('')).toEqual({ view: 'batches' });
  });

  it('keeps a part that is not valid percent-encoding as typed instead of throwing (the page stopped routing)', () => {
    expect(parseRoute('#/batches/%E0%A4%A')).toEqual({ view: 'batch', batchId: '%E0%A4%A' });
    expect(parseRoute('#/batches/b-1/tasks/50%')).toEqual({ view: 'task', batchId: 'b-1', taskId: '50%' });
  });
});
