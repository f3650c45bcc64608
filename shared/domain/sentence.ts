/**
 * A shallow reading of a task description: which words name the work asked for, and which are only
 * present. Pure and deterministic; no model, no dictionary beyond the word lists below (general English,
 * nothing role-specific), so it applies unchanged to user-defined roles.
 *
 * A description is split into sentences (. ! ? ; and line breaks), and each sentence into clauses. In an
 * imperative sentence ("Please review the diff of the rate limiter before we merge"), after the fillers
 * ("please", "can you", "we need to"), the first word is the main verb ("review", with its particle:
 * "speed up", "clean up", "roll out"), the words up to the first preposition or clause boundary are its
 * object ("the diff"), the rest are modifiers ("of the rate limiter"), and a purpose clause ("to cut the
 * latency", "so that ...") sits between. Verbs coordinated with "and", "then" or a comma start a new verb
 * and object ("reproduce it and write up the steps"). A sentence whose verb is a modal or "need"
 * ("the mobile team needs an endpoint", "our form should highlight invalid fields") is read the same way
 * from that verb. Other sentences (statements, questions) are context. The first sentence that asks for work
 * names it: a later request is a step of it ("Add the constraint; clean up the duplicates first") and is
 * read with the weights of a coordinated verb. A verb whose object is only a pronoun ("bring them down",
 * "test it"), or that ends its sentence ("Investigate."), takes its object from the sentence before, which
 * then counts as the object. Words after "without", or after a clause-initial "do not" / "don't" / "never", are what
 * must NOT be done, and count for nothing; so are those after a clause-initial "no" / "not" once the work
 * has been asked for ("Add the endpoint. No UI changes"). A negation runs to the end of its clause, over
 * "or" ("without changing the API or the schema").
 *
 * Tracker and chat phrasings: bracketed tags opening a title ("[BE] Add ...") and a commit type with its
 * scope ("fix(auth): ...", "test: ...") are labels, and the request after them is the work. A heading's words
 * that name the kind of tracker item ("Bug:", "FE ticket:", "Bug report:") count for nothing: every role gets
 * bugs and tickets. A verb-like
 * first word followed by a statement's verb is a subject ("Build fails", "EXPLAIN shows"), not a request.
 * A request after a comma in a statement ("It has no HttpOnly flag, audit the login flow") is the work,
 * and a pronoun object of it ("..., please fix that") points to the clause just before. The benefit of a
 * user story ("so that reviewers can ...", "so we ...") is context: it says why, not what; its persona ("As a
 * release manager, I want a page listing the deploys") says who wants the work, and counts for nothing. A request put
 * as a question ("Can we split the service? Write up the trade-offs") proposes the work: an imperative
 * after it is the main request, and the question a step of it.
 *
 * Each word gets the weight of its part (SENTENCE_PART_WEIGHTS); requirement extraction multiplies the
 * evidence of a vocabulary match by it, so the work named by the verb and its object outweighs a
 * technology mentioned in passing ("write a client for the X API" is integration work, not back-end work).
 */

/** How much a word counts, by the part of the sentence it is in. */
export const SENTENCE_PART_WEIGHTS = {
  /** The main verb and its particle ("review", "speed up"). */
  verb: 3,
  /** The object of the main verb, or the sentence a pronoun object stands for. */
  object: 2,
  /** A short label before a colon that names the work ("Code review: ..."). */
  heading: 2,
  /** A verb coordinated with the main one, and its object ("... and write up the steps"). */
  coordinated: 1,
  /** The verb and object of a purpose clause ("to cut the latency", "in order to ..."). */
  purpose: 1.25,
  /** The rest of the main clause: prepositional phrases, relative clauses, the subject of a modal. */
  modifier: 1,
  /** A sentence without a main verb of its own: a statement or question giving context. */
  context: 0.75,
  /** What must not be done ("without changing the API"). */
  negated: 0,
  /** The persona of a user story ("As a release manager, I want ..."): who wants the work, not what it is. */
  persona: 0,
  /** The kind of tracker item a heading names ("Bug:", "FE ticket:", "Bug report:"): any role's work may be one. */
  label: 0,
} as const;
export type SentencePart = keyof typeof SENTENCE_PART_WEIGHTS;

/** A word of the description with where it stands. */
export interface ReadWord {
  /** The word lower-cased, as written (aliases and stemming are the caller's). */
  raw: string;
  sentence: number;
  part: SentencePart;
  /** True when punctuation (or a sentence end) separates this word from the one before. */
  breakBefore: boolean;
}

/** Words that open a request without naming the work. Matched at a sentence start, longest first. */
const FILLERS = [
  'please',
  'pls',
  'plz',
  'kindly',
  'can someone',
  'could someone',
  'would someone',
  'can somebody',
  'could somebody',
  'can anyone',
  'could anyone',
  'someone please',
  'somebody please',
  'someone',
  'somebody',
  'can you',
  'could you',
  'would you',
  'will you',
  'can we',
  'could we',
  'i need you to',
  'we need you to',
  'i want you to',
  'we want you to',
  'i would like you to',
  'we would like you to',
  'i d like you to',
  'we d like you to',
  'i would like to',
  'we would like to',
  'i d like to',
  'we d like to',
  'we need to',
  'i need to',
  'we should',
  'we must',
  'you should',
  'let s',
  'let us',
  'help me',
  'help us',
  'help me to',
  'help us to',
  'go ahead and',
  'try to',
  'make sure to',
  'also',
  'then',
  'now',
  'first',
  'next',
  'finally',
  'quickly',
  'just',
  'todo',
  'task',
].map((f) => f.split(' '));

/**
 * Verbs that open an imperative, in their base form as written (a sentence starting with "Builds" or
 * "Reviews" is a statement about builds or reviews, not an imperative). General software-work English.
 */
const IMPERATIVE_VERBS = new Set(
  (
    'add adapt adjust adopt allocate allow analyse analyze annotate announce answer apply archive ask assemble ' +
    'assess assign audit automate avoid backfill benchmark break bring build bump calculate call cap catch ' +
    'centralise centralize change chart check choose clean clear close collect combine comment compare ' +
    'compute configure confirm connect consolidate consume containerise containerize continue convert ' +
    'coordinate copy correct cover create critique cut debug decide declare decompose decouple deduplicate ' +
    'define delete deliver deploy deprecate describe design detect determine devise diagnose disable ' +
    'display do document double draft draw drop dump edit eliminate embed emit enable encrypt enforce ' +
    'ensure estimate evaluate examine explain explore export expose extend extract figure fill find fix ' +
    'flag forecast freeze generate get give go handle harden help highlight hook identify implement import improve ' +
    'increase inspect install instrument integrate introduce investigate isolate keep label lay let lift ' +
    'limit list load localise localize locate log look lower make manage map mark measure merge migrate ' +
    'minimise minimize mock model modernise modernize monitor move normalise normalize notify observe ' +
    'obtain open optimise optimize order organise organize outline page paginate parallelise parallelize ' +
    'parse partition patch pay perform persist pick pin plan plot polish port prepare present prevent ' +
    'produce profile promote propose protect prototype prove provide provision prune publish pull push put ' +
    'query raise rank re read rebuild recommend record recover redesign reduce refactor refine reject ' +
    'release reload remove rename render reorganise reorganize repair replace report reproduce request ' +
    'research reset resolve restore restructure retry return reuse revert review revise rewrite roll ' +
    'rotate run sanitise sanitize save scale scan schedule score search secure segment select send ' +
    'separate serve set ship show simplify sketch solve sort specify speed spin split stabilise stabilize ' +
    'standardise standardize start stop store streamline stress strip stub study summarise summarize ' +
    'support switch sync take tell test think tidy time trace track train transform translate triage ' +
    'trim try tune turn type unify unit untangle update upgrade use validate verify visualise visualize ' +
    'walk watch wire work wrap write'
  ).split(' '),
);

/** Words that can follow a verb as its particle ("speed up", "roll out", "look over"). */
const PARTICLES = new Set(['up', 'down', 'out', 'over', 'off', 'back', 'through', 'away', 'into', 'at']);
/** Particles that are only particles after these verbs (elsewhere they start a prepositional phrase). */
const PARTICLE_VERBS: Readonly<Record<string, readonly string[]>> = {
  through: ['go', 'read', 'walk', 'think', 'reason', 'run', 'step', 'work'],
  over: ['go', 'look', 'read', 'hand', 'take', 'think', 'roll'],
  into: ['look', 'dig'],
  at: ['look'],
  back: ['roll', 'scale', 'write', 'report', 'bring', 'pull'],
};

/** Words that end a verb's object and start a modifier. */
const OBJECT_ENDS = new Set([
  'for',
  'in',
  'on',
  'at',
  'to',
  'from',
  'with',
  'by',
  'of',
  'into',
  'onto',
  'across',
  'between',
  'through',
  'against',
  'over',
  'under',
  'via',
  'using',
  'per',
  'about',
  'around',
  'before',
  'after',
  'during',
  'behind',
  'inside',
  'outside',
  'within',
  'beyond',
  'among',
  'toward',
  'towards',
  'throughout',
  'upon',
  'despite',
  'alongside',
  'without',
  'so',
  'that',
  'which',
  'who',
  'where',
  'when',
  'while',
  'because',
  'if',
  'unless',
  'until',
  'since',
  'than',
  'as',
  'instead',
  'rather',
  'once',
  'whenever',
  'like',
  'such',
  'including',
  'except',
]);

/**
 * Prepositions whose phrase names the result of the work, and so counts as the object: "split the module
 * into services", "wrap the calls in a circuit breaker", "put it behind a flag". "into" always; the
 * others after the verbs listed.
 */
const RESULT_PREPOSITIONS: Readonly<Record<string, readonly string[] | 'any'>> = {
  into: 'any',
  // What an inspection looks for is what it is about: "check the endpoint for SQL injection".
  for: ['check', 'scan', 'audit', 'inspect', 'examine', 'review', 'search'],
  in: ['wrap', 'put'],
  behind: ['put', 'hide', 'gate', 'ship', 'release', 'launch'],
  with: ['replace', 'cover', 'protect', 'guard', 'secure'],
};

/** Objects that only point back at what was said before ("fix it", "bring them down"). */
const PRONOUNS = new Set([
  'it',
  'them',
  'this',
  'that',
  'these',
  'those',
  'some',
  'one',
  'everything',
  'all',
]);
/** Determiners and pronouns that never carry vocabulary on their own. */
const FUNCTION_WORDS = new Set(['the', 'a', 'an', 'our', 'my', 'your', 'their', 'its', 'his', 'her', 'any']);
/** Words that make the rest of their clause what must NOT be done. */
const NEGATORS = new Set(['without']);
/** Clause-initial negations of an imperative ("don't touch the schema", "never log tokens"). */
const IMPERATIVE_NEGATIONS = [['do', 'not'], ['never']];
/**
 * Clause-initial words that exclude something from the work once the work has been asked for ("Add the
 * endpoint. No UI changes", "update the README, not the docstrings"). Before any request they describe the
 * problem instead ("No tests cover the parser; write some"), and count as written.
 */
const SCOPE_EXCLUSIONS = [['no'], ['not']];
/** Modals and verbs of need after which the main verb (or the needed thing) comes. */
const MODALS = new Set([
  'should',
  'must',
  'shall',
  'will',
  'need',
  'needs',
  'want',
  'wants',
  'require',
  'requires',
]);
/** Words that join coordinated verbs ("reproduce it and write up the steps"). */
const COORDINATORS = new Set(['and', 'then', 'or', 'plus']);
/** Words that end a negated span. */
const CLAUSE_JOINS = new Set(['and', 'but', 'so', 'then', 'while', 'or']);
/** A label before a colon is a heading when it has at most this many words and no verb. */
const MAX_HEADING_WORDS = 3;

interface Piece {
  raw: string;
  /** Punctuation before the word: none, a comma-like break, a colon, or a sentence end. */
  gap: 'none' | 'comma' | 'colon' | 'sentence';
  /** Inside parentheses or brackets: the scope of a commit title ("fix(auth):"), a tag ("[BE]"). */
  enclosed: boolean;
  /** The last word before a question mark. */
  asks?: boolean;
}

/** Contractions spelt out, so "don't" reads as "do not" and "user's" as "user". */
const CONTRACTIONS: readonly [RegExp, string][] = [
  [/n['\u2019]t\b/g, ' not'],
  [/['\u2019](?:s|re|ll|ve|d|m)\b/g, ''],
];

/** Splits lower-cased, rewritten text into words with the punctuation before each. */
function pieces(text: string): Piece[] {
  let t = text;
  for (const [pattern, replacement] of CONTRACTIONS) t = t.replace(pattern, replacement);
  const out: Piece[] = [];
  let gap: Piece['gap'] = 'sentence';
  const stronger = (a: Piece['gap'], b: Piece['gap']): Piece['gap'] => {
    const rank = { none: 0, comma: 1, colon: 2, sentence: 3 } as const;
    return rank[a] >= rank[b] ? a : b;
  };
  // Words, and the punctuation that separates them. A full stop inside a token ("utils.py", "v2.4") is
  // not a sentence end: only one followed by a space or the end of the text is.
  const pattern = /[a-z0-9]+|[.!?;](?=\s|$)|\n|:(?=\s|$)|[,()[\]\u2013\u2014]|\s-\s/g;
  let depth = 0;
  // Bracketed tags opening a sentence ("[BE] Add pagination") label it, as "BE: Add pagination" would: the
  // first word after them follows a colon.
  let tag = false;
  for (const m of t.matchAll(pattern)) {
    const token = m[0];
    if (/^[a-z0-9]/.test(token)) {
      if (depth === 0 && tag) {
        gap = stronger(gap, 'colon');
        tag = false;
      }
      out.push({ raw: token, gap, enclosed: depth > 0 });
      gap = 'none';
    } else if (token === ':') gap = stronger(gap, 'colon');
    else if (/^[.!?;\n]$/.test(token)) {
      const last = out[out.length - 1];
      if (token === '?' && last && gap === 'none') last.asks = true;
      gap = 'sentence';
      depth = 0;
    } else if (token === '(' || token === '[') {
      if (token === '[' && depth === 0 && (gap === 'sentence' || tag)) tag = true;
      depth++;
      gap = stronger(gap, 'comma');
    } else if (token === ')' || token === ']') {
      depth = Math.max(0, depth - 1);
      gap = stronger(gap, 'comma');
    } else gap = stronger(gap, 'comma');
  }
  return out;
}

function startsWith(words: readonly Piece[], at: number, phrase: readonly string[]): boolean {
  for (let k = 0; k < phrase.length; k++) if (words[at + k]?.raw !== phrase[k]) return false;
  return true;
}

/** The longest filler phrase at `at`, or 0 words. */
function fillerLength(words: readonly Piece[], at: number, end: number): number {
  let best = 0;
  for (const filler of FILLERS) {
    if (filler.length > best && at + filler.length < end && startsWith(words, at, filler))
      best = filler.length;
  }
  return best;
}

/**
 * Reads `text` (already lower-cased and rewritten by the caller) into words, each with its sentence
 * and part. The words are exactly those of splitting on non-alphanumeric characters, in order.
 */
export function readSentences(text: string): ReadWord[] {
  const words = pieces(text);
  const parts: SentencePart[] = new Array(words.length).fill('context');
  const sentenceOf: number[] = new Array(words.length).fill(0);

  // Sentence spans.
  const spans: [number, number][] = [];
  let start = 0;
  for (let i = 1; i <= words.length; i++) {
    if (i === words.length || words[i]?.gap === 'sentence') {
      if (i > start) spans.push([start, i]);
      start = i;
    }
  }
  spans.forEach(([from, to], s) => {
    for (let i = from; i < to; i++) sentenceOf[i] = s;
  });

  let previousSpan: [number, number] | undefined;
  let requested = false;
  // A request put as a question ("Can we split the service? Write up the trade-offs") proposes the work;
  // an imperative after it says what to do, and reads as the main request, the question as a step.
  let proposed: [number, number] | undefined;
  for (const span of spans) {
    readSentence(words, span, parts, previousSpan, requested);
    const asks = asksForWork(words, span, parts);
    if (asks && proposed) {
      for (let i = proposed[0]; i < proposed[1]; i++)
        if (parts[i] === 'verb' || parts[i] === 'object') parts[i] = 'coordinated';
      proposed = undefined;
    }
    if (asks && !requested && words[span[1] - 1]?.asks) proposed = span;
    else requested ||= asks;
    previousSpan = span;
  }
  if (!parts.some((p) => p === 'verb' || p === 'object' || p === 'coordinated' || p === 'heading'))
    readTitle(words, spans[0], parts);
  markNegations(words, spans, parts);
  return words.map((w, i) => ({
    raw: w.raw,
    sentence: sentenceOf[i] as number,
    part: parts[i] as SentencePart,
    breakBefore: i > 0 && w.gap !== 'none',
  }));
}

/** Assigns the parts of one sentence; `previous` is the sentence before (a pronoun object points to it). */
function readSentence(
  words: readonly Piece[],
  [from, to]: [number, number],
  parts: SentencePart[],
  previous: [number, number] | undefined,
  requested: boolean,
): void {
  let at = from;
  // A short verbless label before a colon names the work: "Code review: the PR ...".
  const colon = findGap(words, from, to, 'colon');
  if (colon !== undefined && colon - from <= MAX_HEADING_WORDS && isLabel(words, from, colon)) {
    // The scope of a commit title ("fix(auth):") says where the work is, not what it is: a modifier.
    const scoped = !words[from]?.enclosed;
    for (let i = from; i < colon; i++) parts[i] = scoped && words[i]?.enclosed ? 'modifier' : 'heading';
    markTrackerKinds(words, from, colon, parts);
    at = colon;
  }
  for (;;) {
    const skip = fillerLength(words, at, to);
    if (skip === 0) break;
    at += skip;
  }
  // "As an admin, I want ...": the persona of a user story says who wants the work, not what it is.
  const persona = personaEnd(words, at, to);
  if (persona !== undefined) {
    for (let i = at; i < persona; i++) parts[i] = 'persona';
    at = persona;
  }
  if (at >= to) return;
  let verbAt: number | undefined;
  let context: [number, number] | undefined = previous;
  if (isVerbAt(words, at) && !isSubjectAt(words, at, to)) verbAt = at;
  else {
    // "The mobile team needs an endpoint", "our checkout form should highlight invalid fields".
    for (let i = at; i < to; i++) {
      if (i > at && (words[i]?.gap === 'colon' || words[i]?.gap === 'sentence')) break;
      if (!MODALS.has(words[i]?.raw ?? '')) continue;
      let next = i + 1;
      if (words[next]?.raw === 'to' || words[next]?.raw === 'be') next++;
      for (let k = at; k < i; k++) parts[k] = 'modifier';
      verbAt = next < to && isVerbAt(words, next) ? next : i;
      if (verbAt === i) parts[i] = 'verb';
      break;
    }
  }
  if (verbAt === undefined) {
    // "It has no HttpOnly flag, audit the login flow": a request spliced onto a statement with a comma;
    // the clause just before it is what a pronoun object points to ("..., the arm64 build fails, fix that").
    const spliced = splicedRequestAt(words, at, to);
    if (spliced === undefined) return; // a statement or question: context
    [context, verbAt] = [[clauseStart(words, from, spliced[0]), spliced[0]], spliced[1]];
  }
  // The first request names the work; a later one is a step of it ("Add the constraint; clean up the
  // duplicates first"), weighed like a coordinated verb.
  if (requested) readClause(words, verbAt, to, parts, context, 'coordinated', 'coordinated');
  else readClause(words, verbAt, to, parts, context, 'verb', 'object');
}

/**
 * A description of one sentence that asks for nothing and has no heading names its work as a title does
 * ("Twilio SMS for shipped orders", "Retention table by signup month"): the noun phrase opening it is what
 * the work is about, an object, and the rest qualifies it. A statement or a question is no title.
 */
function readTitle(words: readonly Piece[], span: [number, number] | undefined, parts: SentencePart[]): void {
  if (span === undefined || span[1] < words.length) return;
  for (let i = span[0]; i < span[1]; i++) {
    const raw = words[i]?.raw ?? '';
    if (STATEMENT_VERBS.has(raw) || PLURAL_STATEMENT_VERBS.has(raw) || MODALS.has(raw) || words[i]?.asks)
      return;
  }
  // A tracker kind opening the title ("ticket: pagination for ...") is no part of it.
  let i = span[0];
  while (i < span[1] && parts[i] === 'label') i++;
  const start = i;
  for (; i < span[1]; i++) {
    const w = words[i] as Piece;
    if (parts[i] !== 'context' || (i > start && w.gap !== 'none') || OBJECT_ENDS.has(w.raw)) break;
    parts[i] = 'object';
  }
  for (; i < span[1]; i++) if (parts[i] === 'context') parts[i] = 'modifier';
}

/** Verbs of a statement with a plural subject ("test reports keep coming"): no title has one. */
const PLURAL_STATEMENT_VERBS = new Set(
  'keep come fail break crash hang show return take run work look seem get go stay'.split(' '),
);

/** Articles after "as" that open the persona of a user story ("As a", "As an", "As the"). */
const PERSONA_ARTICLES = new Set(['a', 'an', 'the']);
/** The most words a persona may have ("As a new customer with two accounts"). */
const MAX_PERSONA_WORDS = 8;
/** Subjects of the want that follows a persona ("As an admin, I want ...", "As ops we need ..."). */
const PERSONA_SUBJECTS = new Set(['i', 'we']);

/**
 * Where the persona of a user story ends: "As a <persona>" followed (after a comma or not) by "I" or "we",
 * at the start of a sentence. Undefined when the sentence does not open with one.
 */
function personaEnd(words: readonly Piece[], at: number, to: number): number | undefined {
  if (words[at]?.raw !== 'as' || !PERSONA_ARTICLES.has(words[at + 1]?.raw ?? '')) return undefined;
  for (let i = at + 2; i < to && i <= at + 2 + MAX_PERSONA_WORDS; i++) {
    const w = words[i] as Piece;
    if (PERSONA_SUBJECTS.has(w.raw) && i > at + 2) return i;
    if (w.gap !== 'none') return undefined;
  }
  return undefined;
}

/** Where the clause that ends at `end` starts: after the last comma-like break from `from` on. */
function clauseStart(words: readonly Piece[], from: number, end: number): number {
  for (let i = end - 1; i > from; i--) if (words[i]?.gap !== 'none') return i;
  return from;
}

/**
 * Words of a heading that name the kind of tracker item ("Bug:", "FE ticket:", "Bug report:", "Story:"):
 * every role gets bugs and tickets, so they say nothing of whose the work is. The other words of the
 * heading ("FE", "Code review") still name it.
 */
const TRACKER_KINDS = new Set(['bug', 'bugs', 'ticket', 'issue', 'story', 'chore', 'epic', 'defect', 'task']);
/** A word that is a tracker kind after one ("Bug report:", "Issue summary:"). */
const TRACKER_KIND_TAILS = new Set(['report', 'summary', 'description']);

function markTrackerKinds(words: readonly Piece[], from: number, colon: number, parts: SentencePart[]): void {
  for (let i = from; i < colon; i++) {
    const raw = words[i]?.raw ?? '';
    const tail = i > from && TRACKER_KINDS.has(words[i - 1]?.raw ?? '') && TRACKER_KIND_TAILS.has(raw);
    if (TRACKER_KINDS.has(raw) || tail) parts[i] = 'label';
  }
}

/**
 * A label before a colon: a phrase that does not start with a verb ("Code review:"), a bracketed tag
 * ("[BE]"), or one word with at most a parenthesised scope, as commit titles start ("test:", "fix(ui):";
 * the text after the colon says what the work is).
 */
function isLabel(words: readonly Piece[], from: number, colon: number): boolean {
  if (!isVerbAt(words, from) || words[from]?.enclosed) return true;
  for (let i = from + 1; i < colon; i++) if (!words[i]?.enclosed) return false;
  return true;
}

/**
 * Words that follow the subject of a statement ("Build fails on main", "EXPLAIN shows a nested loop",
 * "Test suite is slow"): a sentence whose first word, or a compound noun it starts, is followed by one of
 * them is not an imperative, even when that word can be a verb. General English only.
 */
const STATEMENT_VERBS = new Set(
  (
    'is are was were has have had does did ca wo keeps seems looks shows returns fails breaks takes ' +
    'hangs crashes throws gives stays gets goes runs works'
  ).split(' '),
);

/** How many words a compound noun subject may have after its first ("Test suite", "Deploy job queue"). */
const MAX_SUBJECT_NOUNS = 2;

function isSubjectAt(words: readonly Piece[], at: number, to: number): boolean {
  for (let i = at + 1; i < to && i <= at + 1 + MAX_SUBJECT_NOUNS; i++) {
    const w = words[i] as Piece;
    if (w.gap !== 'none') return false;
    if (STATEMENT_VERBS.has(w.raw)) return true;
    // An article, a pronoun or a preposition starts the object of an imperative ("Build the image").
    if (FUNCTION_WORDS.has(w.raw) || PRONOUNS.has(w.raw) || OBJECT_ENDS.has(w.raw) || isVerbAt(words, i))
      return false;
  }
  return false;
}

/**
 * A request after a comma in a sentence that is otherwise a statement: [the comma's word, the verb], when
 * an imperative verb (after fillers) is followed by a determiner or pronoun ("audit the flow", "fix that"),
 * by a second verb ("find and fix"), or ends the sentence; a verb-like noun after a comma ("..., test
 * coverage is low") is not one.
 */
function splicedRequestAt(words: readonly Piece[], at: number, to: number): [number, number] | undefined {
  for (let i = at + 1; i < to; i++) {
    const gap = words[i]?.gap;
    if (gap !== 'comma' && gap !== 'colon') continue;
    let verb = i;
    for (let skip = fillerLength(words, verb, to); skip > 0; skip = fillerLength(words, verb, to))
      verb += skip;
    if (!isVerbAt(words, verb)) continue;
    // After a colon a verb opens what the statement before it introduces ("Pentest findings from last
    // quarter: check whether ..."), unless it is the subject of a statement ("...: build fails on main").
    if (gap === 'colon') {
      if (isSubjectAt(words, verb, to)) continue;
      return [i, verb];
    }
    const next = words[verb + 1]?.raw ?? '';
    if (
      verb + 1 === to ||
      FUNCTION_WORDS.has(next) ||
      PRONOUNS.has(next) ||
      coordinatedVerbAt(words, verb + 1, to) !== undefined
    )
      return [i, verb];
  }
  return undefined;
}

/**
 * Reads a verb at `at` and what follows up to `to`: verb (with particle), object, then modifiers until a
 * coordinated verb (read as another main verb) or a purpose clause (read with the purpose weights).
 */
function readClause(
  words: readonly Piece[],
  at: number,
  to: number,
  parts: SentencePart[],
  previous: [number, number] | undefined,
  verbPart: SentencePart,
  objectPart: SentencePart,
): void {
  let i = at;
  const verb = words[i]?.raw ?? '';
  parts[i++] = verbPart;
  // Particle(s): "speed up", "look over"; also after a pronoun object: "cut that down", "bring them up".
  while (i < to && words[i]?.gap === 'none' && isParticle(verb, words[i]?.raw ?? '')) parts[i++] = verbPart;
  const objectStart = i;
  // A pronoun ending the clause is the object too: "fix that" ("that" would otherwise start a modifier).
  if (PRONOUNS.has(words[i]?.raw ?? '') && (words[i + 1]?.gap === 'none' || i + 1 >= to)) {
    const particle = isParticle(verb, words[i + 1]?.raw ?? '');
    parts[i++] = objectPart;
    if (particle) parts[i++] = verbPart;
  }
  // The object: up to a preposition, a subordinator, a colon or sentence end, or a coordinated verb.
  while (i < to) {
    const w = words[i] as Piece;
    if (i > objectStart && (w.gap === 'colon' || w.gap === 'sentence')) break;
    if (OBJECT_ENDS.has(w.raw)) break;
    if (i > objectStart && coordinatedVerbAt(words, i, to) !== undefined) break;
    if (i > objectStart && w.gap === 'comma' && isVerbAt(words, i)) break;
    parts[i++] = objectPart;
  }
  // A particle after the object belongs to the verb ("roll the new service out").
  if (i - 1 > objectStart && isParticle(verb, words[i - 1]?.raw ?? '') && parts[i - 1] === objectPart)
    parts[i - 1] = verbPart;
  // The direct object, before any result phrase: "split it into a base and overrides" is about "it".
  const directEnd = i;
  // A result phrase counts with the object ("split the module into services").
  const result = RESULT_PREPOSITIONS[words[i]?.raw ?? ''];
  if (i < to && result !== undefined && (result === 'any' || result.includes(verb))) {
    parts[i++] = objectPart;
    while (
      i < to &&
      !(words[i] as Piece).gap.match(/colon|sentence|comma/) &&
      !OBJECT_ENDS.has(words[i]?.raw ?? '')
    )
      parts[i++] = objectPart;
  }
  const objectWords = words.slice(objectStart, directEnd).map((w) => w.raw);
  // A verb with a pronoun for its object ("fix it"), or with nothing after it at all ("Investigate."),
  // is about what the sentence before said.
  const pronounOnly =
    (objectWords.length > 0 &&
      objectWords.every((w) => PRONOUNS.has(w) || FUNCTION_WORDS.has(w) || PARTICLES.has(w))) ||
    (objectWords.length === 0 && i >= to);
  if (pronounOnly && previous && (objectPart === 'object' || objectPart === 'coordinated')) {
    for (let k = previous[0]; k < previous[1]; k++) if (parts[k] === 'context') parts[k] = 'object';
  }
  // Modifiers, coordinated verbs and purpose clauses.
  while (i < to) {
    const w = words[i] as Piece;
    if (w.gap === 'colon') {
      // An elaboration after a colon ("Design the tables: members, points and tiers") qualifies the clause.
      for (; i < to; i++) parts[i] = 'modifier';
      return;
    }
    if (isBenefitAt(words, i)) {
      // "... so that reviewers can click around": why the work is wanted, not what it is.
      for (; i < to; i++) parts[i] = 'context';
      return;
    }
    const coordinated = coordinatedVerbAt(words, i, to);
    if (coordinated !== undefined) {
      for (let k = i; k < coordinated; k++) parts[k] = 'modifier';
      const [v, o]: SentencePart[] =
        verbPart === 'verb' ? ['coordinated', 'coordinated'] : [verbPart, objectPart];
      readClause(words, coordinated, to, parts, previous, v as SentencePart, o as SentencePart);
      return;
    }
    const purpose = purposeVerbAt(words, i, to);
    if (purpose !== undefined && verbPart !== 'purpose') {
      for (let k = i; k < purpose; k++) parts[k] = 'modifier';
      readClause(words, purpose, to, parts, previous, 'purpose', 'purpose');
      return;
    }
    parts[i++] = 'modifier';
  }
}

/** Whether a sentence asks for work: its main verb is an imperative verb (not a bare modal of a question). */
function asksForWork(words: readonly Piece[], [from, to]: [number, number], parts: readonly SentencePart[]) {
  for (let i = from; i < to; i++) if (parts[i] === 'verb' && isVerbAt(words, i)) return true;
  return false;
}

function isVerbAt(words: readonly Piece[], at: number): boolean {
  return IMPERATIVE_VERBS.has(words[at]?.raw ?? '');
}

function isParticle(verb: string, word: string): boolean {
  if (!PARTICLES.has(word)) return false;
  const only = PARTICLE_VERBS[word];
  return only === undefined || only.includes(verb);
}

/** Subjects that follow "so" in a clause giving the benefit of the work ("so I stop", "so we know"). */
const BENEFIT_SUBJECTS = new Set(['that', 'i', 'we', 'you', 'they']);

/** "so that ...", "so we know ...": a clause saying why the work is wanted. */
function isBenefitAt(words: readonly Piece[], at: number): boolean {
  return words[at]?.raw === 'so' && BENEFIT_SUBJECTS.has(words[at + 1]?.raw ?? '');
}

/** "and write", ", then check", ", add": the index of the coordinated verb, else undefined. */
function coordinatedVerbAt(words: readonly Piece[], at: number, to: number): number | undefined {
  const w = words[at];
  if (!w) return undefined;
  if (COORDINATORS.has(w.raw)) {
    let next = at + 1;
    if (words[next]?.raw === 'then') next++;
    return next < to && isVerbAt(words, next) && words[next]?.gap === 'none' ? next : undefined;
  }
  return undefined;
}

/** "to cut ...", "so that we can ...", "in order to ...": the index of the purpose verb, else undefined. */
function purposeVerbAt(words: readonly Piece[], at: number, to: number): number | undefined {
  const w = words[at]?.raw;
  if (w === 'to' && at + 1 < to && isVerbAt(words, at + 1)) return at + 1;
  if (w === 'in' && words[at + 1]?.raw === 'order' && words[at + 2]?.raw === 'to' && isVerbAt(words, at + 3))
    return at + 3;
  return undefined;
}

function findGap(words: readonly Piece[], from: number, to: number, gap: Piece['gap']): number | undefined {
  for (let i = from + 1; i < to; i++) if (words[i]?.gap === gap) return i;
  return undefined;
}

/** Marks what follows "without" (and a clause-initial "do not", "don't", "never") as negated. */
function markNegations(
  words: readonly Piece[],
  spans: readonly [number, number][],
  parts: SentencePart[],
): void {
  let requested = false;
  for (const [from, to] of spans) {
    for (let i = from; i < to; i++) {
      const w = words[i] as Piece;
      let length = 0;
      if (NEGATORS.has(w.raw)) length = 1;
      else if (i === from || w.gap !== 'none' || CLAUSE_JOINS.has(words[i - 1]?.raw ?? '')) {
        const negation =
          IMPERATIVE_NEGATIONS.find((n) => startsWith(words, i, n)) ??
          (requested ? SCOPE_EXCLUSIONS.find((n) => startsWith(words, i, n)) : undefined);
        if (negation) length = negation.length;
      }
      if (parts[i] === 'verb') requested = true;
      if (length === 0) continue;
      // The negator keeps its own part: a vocabulary phrase that starts with it ("without changing
      // behaviour") still counts. The words it governs count for nothing.
      // "or" / "nor" list more of what is excluded ("without changing the API or the schema", "no changes to
      // the dashboard or the components"), unless a verb follows: then a new clause starts.
      let k = i + length;
      for (; k < to; k++) {
        const next = words[k] as Piece;
        if (next.gap !== 'none') break;
        const listsMore = (next.raw === 'or' || next.raw === 'nor') && !isVerbAt(words, k + 1);
        if (CLAUSE_JOINS.has(next.raw) && !listsMore) break;
        parts[k] = 'negated';
      }
      i = k - 1;
    }
  }
}
