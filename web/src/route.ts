/** The page's routes, read from the URL fragment (`#/batches/b-1/tasks/t`). */
export type Route =
  | { view: 'batches' }
  | { view: 'batch'; batchId: string }
  | { view: 'task'; batchId: string; taskId: string }
  | { view: 'agents' }
  | { view: 'submit' };

/** A part of the fragment decoded; one that is not valid percent-encoding (`%E0`) stays as it was typed. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodePart);
  if (parts[0] === 'batches' && parts[1] && parts[2] === 'tasks' && parts[3])
    return { view: 'task', batchId: parts[1], taskId: parts[3] };
  if (parts[0] === 'batches' && parts[1]) return { view: 'batch', batchId: parts[1] };
  if (parts[0] === 'agents') return { view: 'agents' };
  if (parts[0] === 'submit') return { view: 'submit' };
  return { view: 'batches' };
}
