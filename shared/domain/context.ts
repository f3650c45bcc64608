/**
 * The context of an attempt: the work of the tasks it depends on, assembled when the attempt starts
 * (README "Passing work between tasks").
 *
 * What the budget bounds: the UTF-8 bytes of everything taken from other tasks that the request carries, i.e.
 * the context section of the prompt (its title, each task's header line, output and cut marker, the markers of
 * tasks that passed nothing) plus every placeholder substitution (counted as it appears in the prompt: inside
 * `input`, as escaped JSON). The task's own text, the role's template and the provider's framing are not
 * counted. Each output gets a fair share (max-min: small ones whole, the rest an equal share, cut with a
 * marker that names where the whole output is), so the total stays within the budget whatever the outputs
 * weigh; when even the headers do not fit, the last tasks are left out with a note saying how many.
 *
 * Three pure steps around two reads: `wholeReadsOf` (artifacts needed whole: a field of a stored output, or a
 * stored JSON output placed in `input`), then `planContext` (what each entry may take, and the ranged reads
 * of the stored outputs that are cut), then `renderContext`.
 */

import { MAX_CONTEXT_RECORD_BYTES } from './limits';
import {
  excerptOf,
  formatFieldPath,
  isTextOutput,
  outputText,
  serializeOutput,
  valueAtPath,
} from './outputs';
import { type PlaceholderSite, placeholderSites, substitutePlaceholders } from './placeholders';
import type { ArtifactRef, ContextRecord, ContextSelection, Task, TaskStatus } from './schemas';
import { decodeUtf8Prefix, utf8Length } from './utf8';

/** What the context builder reads of a task whose work it may pass on. */
export interface TaskWork {
  readonly taskId: string;
  readonly status: TaskStatus;
  readonly role?: string;
  readonly agentId?: string;
  readonly output?: unknown;
  readonly outputRef?: ArtifactRef;
  readonly reason?: string;
  readonly dependsOn: readonly string[];
}

export type ContextItemKind = ContextRecord['items'][number]['kind'];

/** Characters of a failed task's reason quoted in its marker. */
export const MARKER_REASON_MAX_BYTES = 160;

/** A cut output ends at a line end found in the last quarter of its share, not mid-line. */
const LINE_CUT_FRACTION = 0.75;

const SECTION_TITLE =
  'Work from the tasks this one depends on, in dependency order (an output marked [cut] was shortened to fit; the marker says where the whole output is):\n\n';
const ENTRY_SEPARATOR = '\n\n';

/** The ids whose work the section shows: `context` (default: the direct dependencies), deduplicated. */
export function contextIds(task: Pick<Task, 'dependsOn' | 'context'>): string[] {
  const selection: ContextSelection = task.context ?? 'dependencies';
  if (selection === 'none') return [];
  const ids = selection === 'dependencies' ? (task.dependsOn ?? []) : selection;
  return [...new Set(ids)];
}

/** Every task whose item the builder reads: the section's and the placeholders'. */
export function neededIds(task: Task): string[] {
  const ids = new Set(contextIds(task));
  for (const site of placeholderSites(task)) ids.add(site.placeholder.taskId);
  return [...ids];
}

/** Orders ids so that a task comes after those of them it depends on (stable: ties keep the given order). */
export function dependencyOrder(ids: readonly string[], work: ReadonlyMap<string, TaskWork>): string[] {
  const selected = new Set(ids);
  const done = new Set<string>();
  const out: string[] = [];
  const visit = (id: string, path: Set<string>) => {
    if (done.has(id) || path.has(id)) return;
    path.add(id);
    for (const dep of work.get(id)?.dependsOn ?? []) if (selected.has(dep)) visit(dep, path);
    done.add(id);
    out.push(id);
  };
  for (const id of ids) visit(id, new Set());
  return out;
}

// ------------------------------------------------------------------------------------------ costs

/** UTF-8 bytes a code point takes inside a JSON string literal. */
function escapedWidth(code: number): number {
  if (code === 0x22 || code === 0x5c) return 2;
  if (code === 0x08 || code === 0x0c || code === 0x0a || code === 0x0d || code === 0x09) return 2;
  if (code < 0x20) return 6;
  if (code >= 0xd800 && code <= 0xdfff) return 6; // a lone surrogate (well-formed JSON.stringify)
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

function rawWidth(code: number): number {
  if (code >= 0xd800 && code <= 0xdfff) return 3;
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

/** Bytes `text` takes where it goes: as is, or escaped inside a JSON string (a placeholder in `input`). */
export function placedCost(text: string, escaped: boolean): number {
  if (!escaped) return utf8Length(text);
  let cost = 0;
  for (const char of text) cost += escapedWidth(char.codePointAt(0) as number);
  return cost;
}

/** The longest prefix of `text` that costs at most `max` where it goes. */
export function placedPrefix(text: string, max: number, escaped: boolean): string {
  let cost = 0;
  let end = 0;
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    const width = escaped ? escapedWidth(code) : rawWidth(code);
    if (cost + width > max) break;
    cost += width;
    end += char.length;
  }
  return text.slice(0, end);
}

// ---------------------------------------------------------------------------------------- entries

/** One piece of dependency work the request carries: a section entry or a placeholder's substitution. */
interface Entry {
  readonly taskId: string;
  readonly kind: ContextItemKind;
  readonly site?: PlaceholderSite;
  readonly work?: TaskWork;
  /** Whole-output bytes (its JSON), 0 when there is none. */
  readonly totalBytes: number;
  /** Inside `input`: costs are of the escaped text. */
  readonly escaped: boolean;
  /** The header line of a section entry ('' for a placeholder). */
  readonly header: string;
  /** What is shown: a marker only, a known text (and the JSON value it is whole), or a stored output to read. */
  readonly body:
    | { readonly type: 'marker'; readonly text: string }
    | {
        readonly type: 'text';
        readonly text: string;
        readonly value: unknown;
        readonly asValue: boolean;
        /** Only the start of the text is known: it is larger than the whole budget (ReadField 'clipped'). */
        readonly clipped?: boolean;
      }
    | { readonly type: 'artifact'; readonly ref: ArtifactRef };
}

function statusKind(status: TaskStatus): ContextItemKind {
  switch (status) {
    case 'SUCCEEDED':
      return 'passed';
    case 'FAILED':
      return 'failed';
    case 'SKIPPED':
      return 'skipped';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'pending';
  }
}

function unavailable(work: TaskWork | undefined, taskId: string): string {
  if (!work) return `no work of ${taskId}: the task was not found`;
  if (work.status === 'SUCCEEDED') return `no output of ${taskId}: it succeeded without one`;
  if (statusKind(work.status) === 'pending')
    return `no output of ${taskId}: it had not finished (${work.status}) when this task started`;
  const reason = work.reason
    ? `: ${decodeUtf8Prefix(new TextEncoder().encode(work.reason).subarray(0, MARKER_REASON_MAX_BYTES))}`
    : '';
  return `no output of ${taskId}: it ${work.status}${reason}; its output is never passed on`;
}

/**
 * The locations of stored outputs that must be read whole before planning: those a field is read from, and the
 * JSON outputs placed whole in `input` that the budget could hold whole. A larger one is cut whatever happens,
 * so only its first bytes are read, like a text's: read whole, 100 placeholders naming outputs of 10 MiB
 * each held a gigabyte in the worker to pass 100 KB of it.
 */
export function wholeReadsOf(
  task: Task,
  work: ReadonlyMap<string, TaskWork>,
  budgetBytes: number,
): ArtifactRef[] {
  const refs = new Map<string, ArtifactRef>();
  for (const site of placeholderSites(task)) {
    const w = work.get(site.placeholder.taskId);
    const ref = w?.status === 'SUCCEEDED' ? w.outputRef : undefined;
    if (!ref) continue;
    const field = site.placeholder.path.length > 0;
    const jsonInInput = site.where === 'input' && ref.format !== 'text' && ref.bytes <= budgetBytes;
    if (field || jsonInInput) refs.set(ref.location, ref);
  }
  return [...refs.values()];
}

/** What a placeholder takes of a stored output read whole: its value, none, or (past the budget) its start. */
export type ReadField =
  | { readonly type: 'value'; readonly value: unknown }
  | { readonly type: 'missing' }
  /** Larger than the budget whatever its share: the start of its text, as much as the budget could show. */
  | { readonly type: 'clipped'; readonly text: string };

/**
 * What is kept of one stored output read whole (readWhole): the output itself when the budget could hold it
 * whole (a section entry or a JSON value placed in `input` shows it), and what each placeholder naming it takes,
 * by the placeholder's position in placeholderSites.
 */
export interface WholeRead {
  readonly value?: unknown;
  readonly sites: ReadonlyMap<number, ReadField>;
}

/**
 * Parses a stored output read whole once and keeps only what the task takes of it, so at most one whole
 * output (its bytes and its parsed value) is alive at a time: each placeholder's field, its text cut to the
 * budget when it is larger (it is cut to its share anyway), and the output itself only when the budget could
 * hold it whole. Parsed for every placeholder and kept whole, 100 placeholders naming fields of outputs of
 * 10 MiB held a gigabyte and more in the worker to pass at most the budget of it.
 */
export function readWhole(
  task: Task,
  work: ReadonlyMap<string, TaskWork>,
  budgetBytes: number,
  ref: ArtifactRef,
  bytes: Uint8Array,
): WholeRead {
  const output = JSON.parse(new TextDecoder('utf-8').decode(bytes)) as unknown;
  const sites = new Map<number, ReadField>();
  placeholderSites(task).forEach((site, n) => {
    const w = work.get(site.placeholder.taskId);
    if (w?.status !== 'SUCCEEDED' || w.outputRef?.location !== ref.location) return;
    const path = site.placeholder.path;
    const value = path.length > 0 ? valueAtPath(output, path) : isTextOutput(output) ? output.text : output;
    if (value === undefined) {
      sites.set(n, { type: 'missing' });
      return;
    }
    const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
    // More than the budget, even unescaped: the budget can never show it whole.
    const start = placedPrefix(text, budgetBytes + 1, site.where === 'input');
    sites.set(n, start.length < text.length ? { type: 'clipped', text: start } : { type: 'value', value });
  });
  return { ...(ref.bytes <= budgetBytes ? { value: output } : {}), sites };
}

function header(work: TaskWork | undefined, taskId: string): string {
  const who = [
    work?.role ? `role ${work.role}` : undefined,
    work?.agentId ? `agent ${work.agentId}` : undefined,
  ]
    .filter((x) => x !== undefined)
    .join(', ');
  return `--- ${taskId}${who ? ` (${who})` : ''} ---\n`;
}

function entriesOf(
  task: Task,
  work: ReadonlyMap<string, TaskWork>,
  whole: ReadonlyMap<string, WholeRead>,
): Entry[] {
  const entries: Entry[] = [];
  const sectionIds = dependencyOrder(contextIds(task), work);
  for (const taskId of sectionIds) {
    const w = work.get(taskId);
    const kind = w ? statusKind(w.status) : 'pending';
    const base = { taskId, kind, escaped: false, header: header(w, taskId) };
    if (w?.status !== 'SUCCEEDED' || (w.output === undefined && !w.outputRef)) {
      entries.push({
        ...base,
        totalBytes: 0,
        ...(w ? { work: w } : {}),
        body: { type: 'marker', text: `[${unavailable(w, taskId)}]` },
      });
      continue;
    }
    if (w.outputRef) {
      const value = whole.get(w.outputRef.location)?.value;
      entries.push({
        ...base,
        work: w,
        totalBytes: w.outputRef.bytes,
        body:
          value === undefined
            ? { type: 'artifact', ref: w.outputRef }
            : { type: 'text', text: outputText(value), value, asValue: false },
      });
      continue;
    }
    entries.push({
      ...base,
      work: w,
      totalBytes: serializeOutput(w.output).bytes,
      body: { type: 'text', text: outputText(w.output), value: w.output, asValue: false },
    });
  }
  for (const [n, site] of placeholderSites(task).entries()) {
    const { taskId, path } = site.placeholder;
    const w = work.get(taskId);
    const base = { taskId, site, escaped: site.where === 'input', header: '' };
    if (w?.status !== 'SUCCEEDED' || (w.output === undefined && !w.outputRef)) {
      entries.push({
        ...base,
        kind: w ? statusKind(w.status) : 'pending',
        totalBytes: 0,
        ...(w ? { work: w } : {}),
        body: { type: 'marker', text: `[${unavailable(w, taskId)}]` },
      });
      continue;
    }
    const totalBytes = w.outputRef ? w.outputRef.bytes : serializeOutput(w.output).bytes;
    const read = w.outputRef ? whole.get(w.outputRef.location)?.sites.get(n) : undefined;
    if (w.outputRef && read === undefined) {
      // A stored text output placed whole: read as much of it as its share allows, later.
      entries.push({
        ...base,
        kind: 'passed',
        work: w,
        totalBytes,
        body: { type: 'artifact', ref: w.outputRef },
      });
      continue;
    }
    if (read?.type === 'clipped') {
      entries.push({
        ...base,
        kind: 'passed',
        work: w,
        totalBytes,
        body: { type: 'text', text: read.text, value: undefined, asValue: false, clipped: true },
      });
      continue;
    }
    const output = w.output;
    const value = read
      ? read.type === 'value'
        ? read.value
        : undefined
      : path.length > 0
        ? valueAtPath(output, path)
        : isTextOutput(output)
          ? output.text
          : output;
    if (value === undefined) {
      entries.push({
        ...base,
        kind: 'passed',
        work: w,
        totalBytes,
        body: { type: 'marker', text: `[no field ${formatFieldPath(path)} in the output of ${taskId}]` },
      });
      continue;
    }
    const asValue = site.exact && typeof value !== 'string';
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    entries.push({
      ...base,
      kind: 'passed',
      work: w,
      totalBytes,
      body: { type: 'text', text, value, asValue },
    });
  }
  return entries;
}

// --------------------------------------------------------------------------------------- the plan

/** One entry with what it may take of the budget. */
export interface PlannedEntry {
  readonly entry: Entry;
  /** Left out: not even its header fitted. */
  readonly omitted: boolean;
  /** Body bytes it may take (its share); Infinity-free: at most its whole cost. */
  readonly allowance: number;
  /** Whether the plan expects it whole (its share covers all of it). */
  readonly whole: boolean;
}

export interface ContextPlan {
  readonly batchId: string;
  readonly budgetBytes: number;
  readonly entries: readonly PlannedEntry[];
  /** Ranged reads of stored outputs (bytes at least the object's size: read it whole). */
  readonly reads: readonly { readonly ref: ArtifactRef; readonly bytes: number }[];
  readonly hasSection: boolean;
}

function cutMarker(batchId: string, entry: Entry, shown: number): string {
  const ref = entry.body.type === 'artifact' ? entry.body.ref : entry.work?.outputRef;
  const where = ref
    ? `${ref.location} (${ref.bytes} bytes, sha256 ${ref.sha256})`
    : `GET /batches/${batchId}/tasks/${entry.taskId}/output (${entry.totalBytes} bytes)`;
  return `\n[cut: ${shown} of ${entry.totalBytes} bytes of ${entry.taskId}'s output shown; the whole output: ${where}]`;
}

/** Cost of a body shown whole (an upper bound for a stored output not read yet). */
function wholeCost(entry: Entry): number {
  const body = entry.body;
  if (body.type === 'marker') return 0;
  if (body.type === 'artifact') return body.ref.bytes + (entry.site?.exact ? 2 : 0);
  if (body.clipped) return placedCost(body.text, entry.escaped) + 1; // more than the budget: never whole
  if (body.asValue) return utf8Length(JSON.stringify(body.value));
  return placedCost(body.text, entry.escaped) + (entry.site?.exact ? 2 : 0);
}

/** Cost of what is always shown: the header, a marker-only body, the separator of a section entry. */
function fixedCost(entry: Entry): number {
  const marker = entry.body.type === 'marker' ? placedCost(entry.body.text, entry.escaped) : 0;
  return utf8Length(entry.header) + marker + (entry.site ? 0 : ENTRY_SEPARATOR.length);
}

/** The cut marker's cost at most (its numbers at their widest: what is shown never exceeds the whole). */
function markerReserve(batchId: string, entry: Entry): number {
  if (entry.body.type === 'marker') return 0;
  const widest = Math.max(entry.totalBytes, wholeCost(entry));
  return placedCost(cutMarker(batchId, entry, widest), entry.escaped) + (entry.site?.exact ? 2 : 0);
}

function omissionNote(count: number, budget: number): string {
  return `[${count} more task${count === 1 ? '' : 's'} left out: their headers alone would pass the context budget of ${budget} bytes]${ENTRY_SEPARATOR}`;
}

/**
 * Max-min fair shares of `room` over `needs` (in order): every need at most the level is met whole, the rest
 * get the level (the floor of what is left over the number left).
 */
function waterfill(needs: readonly number[], room: number): number[] {
  const order = needs.map((need, i) => ({ need, i })).sort((a, b) => a.need - b.need || a.i - b.i);
  const shares = new Array<number>(needs.length).fill(0);
  let left = Math.max(0, room);
  let count = order.length;
  for (const { need, i } of order) {
    const level = Math.floor(left / count);
    const share = Math.min(need, level);
    shares[i] = share;
    left -= share;
    count--;
  }
  return shares;
}

/**
 * Decides each entry's share of the budget and the ranged reads that follow from it. `whole` holds the stored
 * outputs read whole beforehand (wholeReadsOf).
 */
export function planContext(args: {
  batchId: string;
  task: Task;
  budgetBytes: number;
  work: ReadonlyMap<string, TaskWork>;
  whole?: ReadonlyMap<string, WholeRead>;
}): ContextPlan {
  const { batchId, budgetBytes } = args;
  const entries = entriesOf(args.task, args.work, args.whole ?? new Map());
  const sectionEntries = entries.filter((e) => !e.site);
  const hasSection = sectionEntries.length > 0;
  // Placeholders first (the task names them where they go), then the section in dependency order: what does
  // not fit even without its output is left out from the end.
  const priority = [...entries.filter((e) => e.site), ...sectionEntries];
  const reserve = (e: Entry) => fixedCost(e) + markerReserve(batchId, e);
  const titleCost = hasSection ? utf8Length(SECTION_TITLE) : 0;
  let kept = priority.length;
  const committed = () =>
    titleCost +
    priority.slice(0, kept).reduce((sum, e) => sum + reserve(e), 0) +
    (kept < priority.length && hasSection ? utf8Length(omissionNote(priority.length, budgetBytes)) : 0);
  while (kept > 0 && committed() > budgetBytes) kept--;
  const included = new Set(priority.slice(0, kept));

  // Shares: the room left once every header and cut marker is paid for; an entry shown whole gives its
  // marker's reserve back, so shares are recomputed until the set of whole entries stops growing.
  const flexible = entries.filter((e) => included.has(e) && e.body.type !== 'marker');
  const needs = flexible.map(wholeCost);
  const room0 = budgetBytes - committed();
  let wholeSet = new Set<number>();
  let shares = waterfill(needs, room0);
  for (;;) {
    const next = new Set(needs.flatMap((need, i) => ((shares[i] as number) >= need ? [i] : [])));
    if ([...next].every((i) => wholeSet.has(i)) && next.size === wholeSet.size) break;
    wholeSet = next;
    const freed = [...wholeSet].reduce((sum, i) => sum + markerReserve(batchId, flexible[i] as Entry), 0);
    shares = waterfill(needs, room0 + freed);
  }
  const planned = entries.map((entry): PlannedEntry => {
    const i = flexible.indexOf(entry);
    if (i === -1)
      return { entry, omitted: !included.has(entry), allowance: 0, whole: entry.body.type === 'marker' };
    const whole = wholeSet.has(i);
    return { entry, omitted: false, allowance: shares[i] as number, whole };
  });
  const reads = new Map<string, { ref: ArtifactRef; bytes: number }>();
  for (const p of planned) {
    if (p.omitted || p.entry.body.type !== 'artifact') continue;
    const ref = p.entry.body.ref;
    const bytes = p.whole ? ref.bytes : p.allowance;
    const known = reads.get(ref.location);
    if (!known || known.bytes < bytes) reads.set(ref.location, { ref, bytes });
  }
  return { batchId, budgetBytes, entries: planned, reads: [...reads.values()], hasSection };
}

// ------------------------------------------------------------------------------------------ render

/** One dependency's work as structured data (the http executor's request, the simulated executor's report). */
export interface ContextItem {
  readonly taskId: string;
  readonly kind: ContextItemKind;
  readonly status?: TaskStatus;
  readonly role?: string;
  readonly agentId?: string;
  /** The whole output, when it was passed whole. */
  readonly output?: unknown;
  /** What was passed of a cut output (the start of its text or JSON). */
  readonly excerpt?: string;
  readonly cut: boolean;
  readonly bytes: number;
  readonly totalBytes: number;
  /** Where the whole output is, when it is stored as an artifact. */
  readonly ref?: ArtifactRef;
  /** Why nothing was passed (a failed, skipped, cancelled or unfinished task). */
  readonly note?: string;
}

export interface RenderedContext {
  /** The prompt's context section ('' when the task has none), ending with a blank line. */
  readonly section: string;
  /** The task with its placeholders replaced. */
  readonly task: Task;
  /** The section's entries as data, in dependency order. */
  readonly items: readonly ContextItem[];
  /** What was passed, for the attempt's record. */
  readonly record: ContextRecord;
}

/** What one entry shows: its text (and the value it is, when whole) and how much of its output. */
interface Shown {
  readonly text: string;
  readonly value?: unknown;
  readonly bytes: number;
  readonly cut: boolean;
}

function show(plan: ContextPlan, p: PlannedEntry, heads: ReadonlyMap<string, Uint8Array>): Shown {
  const entry = p.entry;
  const body = entry.body;
  if (body.type === 'marker') return { text: body.text, bytes: 0, cut: false };
  let text: string;
  let value: unknown;
  let complete: boolean;
  if (body.type === 'artifact') {
    const bytes = heads.get(body.ref.location) ?? new Uint8Array();
    const read = bytes.subarray(0, Math.min(bytes.length, p.whole ? body.ref.bytes : p.allowance));
    const excerpt = excerptOf(read, body.ref.format ?? 'json', body.ref.bytes);
    text = excerpt.text;
    complete = excerpt.complete;
    if (complete && read.length >= body.ref.bytes)
      value = JSON.parse(new TextDecoder('utf-8').decode(read)) as unknown;
  } else {
    text = body.text;
    value = body.value;
    complete = body.clipped !== true;
  }
  const quotes = entry.site?.exact ? 2 : 0;
  if (complete && body.type === 'text' && body.asValue) {
    const cost = utf8Length(JSON.stringify(body.value));
    if (cost <= p.allowance || p.whole) return { text, value: body.value, bytes: cost, cut: false };
  } else if (
    complete &&
    placedCost(text, entry.escaped) + quotes <= Math.max(p.allowance, p.whole ? Infinity : 0)
  ) {
    return { text, value, bytes: placedCost(text, entry.escaped), cut: false };
  }
  // Cut: the share (less what the quotes of an exact input string take) of the text, at the end of a line
  // when one ends in the last quarter of the share.
  let shownText = placedPrefix(text, Math.max(0, p.allowance - quotes), entry.escaped);
  const lineEnd = shownText.lastIndexOf('\n');
  if (lineEnd >= 0 && lineEnd + 1 >= shownText.length * LINE_CUT_FRACTION)
    shownText = shownText.slice(0, lineEnd + 1);
  const shownBytes = placedCost(shownText, entry.escaped);
  return { text: shownText + cutMarker(plan.batchId, entry, shownBytes), bytes: shownBytes, cut: true };
}

/** Renders the plan with the bytes read (`heads`: location -> first bytes, or all of them). */
export function renderContext(
  task: Task,
  plan: ContextPlan,
  heads: ReadonlyMap<string, Uint8Array>,
): RenderedContext {
  const shown = new Map<PlannedEntry, Shown>();
  for (const p of plan.entries) if (!p.omitted) shown.set(p, show(plan, p, heads));
  const recordItems: ContextRecord['items'] = [];
  const items: ContextItem[] = [];
  let section = '';
  let omitted = 0;
  for (const p of plan.entries) {
    const entry = p.entry;
    const s = shown.get(p);
    recordItems.push({
      taskId: entry.taskId,
      kind: p.omitted ? 'omitted' : entry.kind,
      bytes: s?.bytes ?? 0,
      totalBytes: entry.totalBytes,
      cut: s ? s.cut : entry.totalBytes > 0,
      ...(entry.site ? { placeholder: entry.site.placeholder.text } : {}),
    });
    if (entry.site) continue;
    if (!s) {
      omitted++;
      continue;
    }
    section += `${entry.header}${s.text}${ENTRY_SEPARATOR}`;
    const w = entry.work;
    items.push({
      taskId: entry.taskId,
      kind: entry.kind,
      ...(w ? { status: w.status } : {}),
      ...(w?.role ? { role: w.role } : {}),
      ...(w?.agentId ? { agentId: w.agentId } : {}),
      ...(entry.body.type === 'marker'
        ? { note: entry.body.text }
        : s.cut
          ? { excerpt: s.text }
          : { output: s.value !== undefined ? s.value : s.text }),
      cut: s.cut,
      bytes: s.bytes,
      totalBytes: entry.totalBytes,
      ...(w?.outputRef ? { ref: w.outputRef } : {}),
    });
  }
  if (plan.hasSection)
    section = SECTION_TITLE + section + (omitted > 0 ? omissionNote(omitted, plan.budgetBytes) : '');
  const sites = plan.entries.filter((p) => p.entry.site);
  const substituted = substitutePlaceholders(
    task,
    sites.map((p) => p.entry.site as PlaceholderSite),
    (_site, n) => {
      const p = sites[n] as PlannedEntry;
      const s = shown.get(p);
      if (!s) return '';
      const body = p.entry.body;
      return body.type === 'text' && body.asValue && !s.cut ? body.value : s.text;
    },
  );
  let used = utf8Length(section);
  for (const p of sites) {
    const s = shown.get(p);
    if (!s) continue;
    const body = p.entry.body;
    const inserted = body.type === 'text' && body.asValue && !s.cut ? JSON.stringify(body.value) : s.text;
    used +=
      body.type === 'text' && body.asValue && !s.cut
        ? utf8Length(inserted)
        : placedCost(inserted, p.entry.escaped);
  }
  return {
    section,
    task: substituted,
    items,
    record: boundedContextRecord({ budgetBytes: plan.budgetBytes, usedBytes: used, items: recordItems }),
  };
}

/** Characters of a placeholder's text a context record keeps (the whole text is in the task's spec). */
export const RECORD_PLACEHOLDER_CHARS = 160;

const jsonBytes = (value: unknown) => utf8Length(JSON.stringify(value));

/**
 * `record` within `maxBytes` of JSON (MAX_CONTEXT_RECORD_BYTES): as it is when it fits; else with each
 * placeholder's text shortened to RECORD_PLACEHOLDER_CHARS (ending in an ellipsis), and, when that is not
 * enough, its items listed in order while they fit and the rest counted in `unlisted`. The budget and the
 * bytes used stay exact.
 */
export function boundedContextRecord(
  record: ContextRecord,
  maxBytes: number = MAX_CONTEXT_RECORD_BYTES,
): ContextRecord {
  if (jsonBytes(record) <= maxBytes) return record;
  const items = record.items.map((item) =>
    item.placeholder !== undefined && item.placeholder.length > RECORD_PLACEHOLDER_CHARS
      ? { ...item, placeholder: `${item.placeholder.slice(0, RECORD_PLACEHOLDER_CHARS - 1)}\u2026` }
      : item,
  );
  const shortened: ContextRecord = { ...record, items };
  if (jsonBytes(shortened) <= maxBytes) return shortened;
  const { unlisted: _counted, ...rest } = record;
  const countOf = (left: ContextRecord['items']): NonNullable<ContextRecord['unlisted']> => ({
    count: left.length + (record.unlisted?.count ?? 0),
    bytes: left.reduce((sum, i) => sum + i.bytes, record.unlisted?.bytes ?? 0),
    totalBytes: left.reduce((sum, i) => sum + i.totalBytes, record.unlisted?.totalBytes ?? 0),
    cut: left.reduce((sum, i) => sum + (i.cut ? 1 : 0), record.unlisted?.cut ?? 0),
    kinds: left.reduce<Record<string, number>>(
      (kinds, i) => {
        kinds[i.kind] = (kinds[i.kind] ?? 0) + 1;
        return kinds;
      },
      { ...record.unlisted?.kinds },
    ),
  });
  // The count of every item is the widest `unlisted` can be: reserve it, then list items while they fit.
  let used = jsonBytes({ ...rest, items: [], unlisted: countOf(items) });
  let listed = 0;
  for (const item of items) {
    const cost = jsonBytes(item) + (listed > 0 ? 1 : 0);
    if (used + cost > maxBytes) break;
    used += cost;
    listed++;
  }
  const left = items.slice(listed);
  const counted = left.length > 0 || record.unlisted !== undefined;
  return { ...rest, items: items.slice(0, listed), ...(counted ? { unlisted: countOf(left) } : {}) };
}

/** True when the task takes any work from other tasks (a section or a placeholder). */
export function takesContext(task: Task): boolean {
  return contextIds(task).length > 0 || placeholderSites(task).length > 0;
}
