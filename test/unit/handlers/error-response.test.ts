/** errorResponse: how a use case's error reaches the caller of the API. */
import { describe, expect, it, vi } from 'vitest';
import { errorResponse } from '../../../functions/commons/http';
import { UnavailableError, UpstreamRefusedError } from '../../../shared/usecases/errors';

const logger = { warn: vi.fn(), error: vi.fn() } as unknown as Parameters<typeof errorResponse>[1];

describe('errorResponse', () => {
  it('answers a refusal sending again cannot cure with 502 naming it, and no Retry-After', () => {
    const response = errorResponse(new UpstreamRefusedError('refused: AccessDeniedException: no'), logger);

    expect(response.statusCode).toBe(502);
    expect(JSON.parse(response.body)).toEqual({
      error: 'UpstreamRefused',
      message: 'refused: AccessDeniedException: no',
    });
    expect(response.headers?.['retry-after']).toBeUndefined();
  });

  it('answers a failure sending again may cure with 503 and its Retry-After', () => {
    const response = errorResponse(new UnavailableError('try later', 5), logger);

    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('5');
  });
});
