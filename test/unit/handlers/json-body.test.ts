/**
 * The request bodies of the routes other than POST /batches (an approval, PUT /agents/{id}, a redrive, a
 * WebSocket subscribe) are parsed by parseJsonBody: a duplicate key is refused with its path, since JSON.parse
 * kept only the last value and `{"decision":"reject","decision":"approve"}` approved the task.
 */
import { describe, expect, it } from 'vitest';
import { parseJsonBody } from '../../../functions/commons/http';
import { RequestValidationError } from '../../../shared/usecases/errors';

describe('parseJsonBody', () => {
  it('refuses a duplicate key with its path and line', () => {
    const failure = (() => {
      try {
        parseJsonBody('{"decision":"reject",\n"decision":"approve"}');
      } catch (error) {
        return error;
      }
      return undefined;
    })();

    expect(failure).toBeInstanceOf(RequestValidationError);
    expect((failure as RequestValidationError).issues).toEqual([
      {
        path: '$.decision',
        message:
          'duplicate key "decision" (line 2): the object already has it, and JSON would keep only the last one; give each key once',
      },
    ]);
  });

  it('parses a body whose keys repeat only across objects', () => {
    expect(parseJsonBody('{"budget":{"maxCostUsd":1},"x":{"maxCostUsd":2}}')).toEqual({
      budget: { maxCostUsd: 1 },
      x: { maxCostUsd: 2 },
    });
  });
});
