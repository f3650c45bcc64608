import { describe, expect, it } from 'vitest';
import { type GraphTask, layoutGraph } from '../../../web/src/layout';

const chain = (n: number, status: string): GraphTask[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `t-${i}`,
    dependsOn: i === 0 ? [] : [`t-${i - 1}`, ...(i > 1 ? [`t-${i - 2}`] : [])],
    status,
  }));

describe('dependency graph layout', () => {
  it('reuses the layout while only statuses change, with the new statuses', () => {
    const first = layoutGraph(chain(200, 'PENDING'));
    const running = chain(200, 'RUNNING');
    const second = layoutGraph(running);

    expect(second.edges).toBe(first.edges);
    expect(second.nodes.map((n) => [n.x, n.y])).toEqual(first.nodes.map((n) => [n.x, n.y]));
    expect(second.nodes.every((n) => n.status === 'RUNNING')).toBe(true);
    expect(first.nodes.every((n) => n.status === 'PENDING')).toBe(true);
  });

  it('lays the graph out again when its shape changes', () => {
    const before = layoutGraph(chain(3, 'PENDING'));
    const after = layoutGraph([...chain(3, 'PENDING'), { id: 'docs', dependsOn: ['t-0'] }]);

    expect(after.edges).not.toBe(before.edges);
    expect(after.nodes.map((n) => n.id)).toEqual(['t-0', 't-1', 't-2', 'docs']);
    expect(after.edges).toContainEqual(expect.objectContaining({ from: 't-0', to: 'docs' }));
  });
});
