/**
 * Requirement extraction: what a task needs (languages, frameworks, kinds of work, complexity) and which
 * roles fit it, with a confidence per role. Pure and deterministic: no network, no clock, no randomness.
 *
 * How roles are inferred from a description:
 * 1. The text is normalised: interfaces named after a capitalised vendor become third-party ones ("the
 *    Shopify Admin API" -> "the Shopify Admin third-party API"), exception class names are followed by the
 *    word "exception", an upper-case name given a value or read as "$NAME" by "environment variable",
 *    aliases apply ("k8s" -> "kubernetes", "c#" -> "csharp"), words are split on word
 *    boundaries and lightly stemmed ("tests", "testing", "tested" -> "test"; "optimise"/"optimize" alike).
 * 2. The sentences are read (sentence.ts): every word gets the weight of its part of the sentence, so the
 *    main verb and its object (the work asked for) outweigh a technology mentioned in a modifier, and what
 *    follows "without" counts for nothing.
 * 3. Every vocabulary entry of every role (keywords, skills, frameworks, languages) is compiled once per
 *    catalog into a token sequence; multi-word phrases match consecutive tokens within a clause, one
 *    language or framework word possibly inside ("structured JSON logging" is "structured logging").
 * 4. Each distinct entry found adds evidence to its role:
 *      base weight of its field (keyword 3 > skill 2 = framework 2 > language 1: the KIND OF WORK dominates
 *      over the language or framework mentioned)
 *      x (1 + 0.5 per extra word of a phrase: "unit test" is more specific than "test")
 *      / sqrt(number of roles sharing the entry: "release" is weaker evidence than "canary")
 *      x the weight of the sentence part it stands in (the strongest one, if it appears more than once).
 *    A word of several senses (BUILTIN_WORD_SENSES: "migration", "table", "pipeline", "leak", ...) counts
 *    for the roles of the sense the request's main verb signals ("Check the JWT expiry" is an audit, "Add
 *    the JWT rotation the pentest asked for" the feature), else of the sense its neighbours signal ("cloud
 *    migration" is platform work, "the users table and its index" database work, "the table on the
 *    dashboard page" front-end work), else as listed.
 *    A word inside a longer matched phrase does not count on its own. A role's evidence is the sum of its
 *    matches, strongest first, each further one discounted by EVIDENCE_DECAY. Equal evidence is ordered by the part
 *    of the sentence the role's evidence stands in, then by position.
 * 5. confidence(role) = evidence(role) / (best evidence + CONFIDENCE_HALF_SATURATION): the best role's
 *    confidence grows with how much evidence there is (one strong keyword ~0.5), the others are
 *    proportional to it. Candidates are sorted by confidence, then by name.
 * 6. When nothing matches, roleCandidates is empty and targetRole() falls back to FALLBACK_ROLE
 *    (the reasoning agent, which handles ambiguous problems by decomposing them).
 *
 * Explicit `role` and `requirements` win: a task with a role gets exactly that role (confidence 1); explicit
 * requirement lists replace the inferred lists (lower-cased) and also count as evidence for the roles.
 */
import { BUILTIN_WORD_SENSES, type RoleCatalog, type WordSense } from './roles';
import type { Complexity, ExtractedRequirements, Role, Task } from './schemas';
import { readSentences, SENTENCE_PART_WEIGHTS } from './sentence';

/** The role that takes a task when no vocabulary matches: it decomposes ambiguous problems. */
export const FALLBACK_ROLE = 'hrm_reasoning_agent';

/** Evidence weight per vocabulary field: the kind of work outweighs tools, tools outweigh languages. */
export const EVIDENCE_WEIGHTS = { keyword: 3, skill: 2, framework: 2, language: 1 } as const;
/**
 * A role's matches are summed strongest first, each further one worth this much of the one before: three
 * incidental words of one role in a modifier ("the Stripe webhook handler") should not outweigh the one
 * phrase that names the work ("unit tests").
 */
export const EVIDENCE_DECAY = 0.75;
/** Extra weight per additional word of a phrase: longer matches are more specific. */
const PHRASE_BONUS_PER_WORD = 0.5;
/** Evidence at which the best role's confidence reaches one half (about one strong keyword). */
const CONFIDENCE_HALF_SATURATION = 3;

type Field = keyof typeof EVIDENCE_WEIGHTS;

/** Languages recognised for the requirement lists even though no built-in role specialises in them. */
const GENERAL_LANGUAGES = [
  'java',
  'kotlin',
  'golang',
  'rust',
  'ruby',
  'php',
  'csharp',
  'cpp',
  'swift',
  'scala',
  'elixir',
  'go code',
  'go service',
];
const LANGUAGE_CANONICAL: Readonly<Record<string, string>> = {
  'go code': 'go',
  'go service': 'go',
  golang: 'go',
};

/** Token aliases applied before stemming (both to descriptions and to the vocabulary). */
const TOKEN_ALIASES: Readonly<Record<string, string>> = {
  ts: 'typescript',
  js: 'javascript',
  py: 'python',
  postgres: 'postgresql',
  psql: 'postgresql',
  k8s: 'kubernetes',
  kube: 'kubernetes',
  mongo: 'mongodb',
  dynamo: 'dynamodb',
  gha: 'github',
  nodejs: 'node',
  reactjs: 'react',
  vuejs: 'vue',
  ddb: 'dynamodb',
  a11y: 'accessibility',
  // Common abbreviations, as in commit titles ("perf: ...") and team tags ("[Infra]").
  perf: 'performance',
  infra: 'infrastructure',
  prs: 'pr',
};

/** Character-level rewrites that word splitting would otherwise destroy. */
const CHAR_REWRITES: readonly [RegExp, string][] = [
  [/c\+\+/g, ' cpp '],
  [/c#/g, ' csharp '],
  [/\.net\b/g, ' dotnet '],
  [/\b(node|next|vue|react|nuxt|express)\.js\b/g, '$1js'],
];

/** Words the suffix rules would damage into another common word ("settings" -> "set" as in "set up"). */
const STEM_EXCEPTIONS: Readonly<Record<string, string>> = {
  setting: 'setting',
  settings: 'setting',
  string: 'string',
  strings: 'string',
  during: 'during',
  thing: 'thing',
  things: 'thing',
  // "theme" would lose its final e and become the pronoun "them" ("handle them" read as UI theming).
  theme: 'theme',
  themes: 'theme',
  themed: 'theme',
  theming: 'theme',
};

/**
 * A light stemmer: enough to make inflections and British/American spellings meet. It only needs to be
 * consistent, because the vocabulary goes through it too.
 */
export function stem(word: string): string {
  let w = word;
  if (w.length <= 3) return w;
  const exception = STEM_EXCEPTIONS[w];
  if (exception !== undefined) return exception;
  let strippedVerb = false;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (/(?:x|ch|sh|ss|zz)es$/.test(w)) w = w.slice(0, -2);
  else if (w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) w = w.slice(0, -1);
  // Then verb endings, also after a plural: "settings" -> "setting" -> "set".
  if (w.endsWith('ing') && w.length > 5) {
    w = w.slice(0, -3);
    strippedVerb = true;
  } else if (w.endsWith('ed') && w.length > 4) {
    w = w.slice(0, -2);
    strippedVerb = true;
  }
  // planning -> plann -> plan; but keep "install", "pass", "buzz".
  if (strippedVerb && /([b-df-hj-km-np-rtv-z])\1$/.test(w) && !/(?:ll|ss|zz)$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('isation') || w.endsWith('ization')) w = `${w.slice(0, -7)}iz`;
  if (w.length > 4 && w.endsWith('e')) w = w.slice(0, -1);
  if (w.endsWith('is') && w.length > 5) w = `${w.slice(0, -2)}iz`;
  else if (w.endsWith('ys') || w.endsWith('yz')) w = `${w.slice(0, -2)}yz`;
  if (w.length > 5 && w.endsWith('our')) w = `${w.slice(0, -3)}or`;
  return w;
}

/**
 * Capitalised words that name a protocol, a language, an HTTP method or ourselves rather than a vendor, so
 * "the REST API", "the Python SDK" or "GET /api/orders" is not a third-party API while "the Shopify Admin
 * API" is.
 */
const NOT_VENDORS = new Set(
  (
    'rest restful graphql http https json xml soap grpc rpc web public private internal admin api sdk ' +
    'node python java typescript javascript go golang rust ruby php kotlin swift aws i our the new v1 v2 v3 ' +
    // HTTP methods before a path ("GET /api/v2/products") name our own endpoint.
    'get post put patch delete head options'
  ).split(' '),
);
/** "<Name> API", "<Name> SDK", "<Name> webhook(s)": up to this many words before it may name the vendor. */
const VENDOR_NAME_WORDS = 3;
/** What a vendor's interface is called. */
const VENDOR_INTERFACES = /^(?:apis?|sdks?|webhooks?)$/i;

/**
 * Marks interfaces named after a capitalised vendor as third-party ("the GitHub GraphQL API" ->
 * "the GitHub GraphQL third-party API"): calling someone else's API is integration work, whatever the
 * verb. A capitalised word that starts a sentence does not count (it is capitalised anyway).
 */
function markThirdPartyInterfaces(text: string): string {
  const words = [...text.matchAll(/[A-Za-z0-9][A-Za-z0-9.-]*|[.!?;:\n]/g)];
  const inserts: number[] = [];
  words.forEach((m, i) => {
    // A segment of a path ("/api/invoices") names our own route, not a vendor's interface.
    if (!VENDOR_INTERFACES.test(m[0]) || text[(m.index ?? 0) - 1] === '/') return;
    for (let k = i - 1; k >= Math.max(0, i - VENDOR_NAME_WORDS); k--) {
      const word = words[k]?.[0] ?? '';
      if (/^[.!?;:\n]$/.test(word)) break;
      const sentenceStart = k === 0 || /^[.!?;:\n]$/.test(words[k - 1]?.[0] ?? '');
      if (/^[A-Z]/.test(word) && !sentenceStart && !NOT_VENDORS.has(word.toLowerCase())) {
        inserts.push(m.index ?? 0);
        break;
      }
    }
  });
  let out = text;
  for (const at of inserts.reverse()) out = `${out.slice(0, at)}third-party ${out.slice(at)}`;
  return out;
}

/**
 * Exception and error class names ("NullPointerException", "TypeError", "ECONNRESET" is not one) are read
 * as the word "exception" after the name, so a description naming one is about an exception.
 */
const EXCEPTION_CLASS = /\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*(?:Exception|Error)\b/g;

/**
 * An upper-case name assigned a value or read as a shell variable ("FEATURE_NEW_NAV=true", "$DATABASE_URL",
 * "${API_TOKEN}") is an environment variable, and reads as the name followed by "environment variable".
 */
const ENVIRONMENT_VARIABLE = /(?<=\$\{?)[A-Z][A-Z0-9_]*[A-Z0-9]\b|\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9](?==)/g;

/** Lower-cased, with the character rewrites applied: what readSentences and tokenize read. */
function normalise(text: string): string {
  let t = markThirdPartyInterfaces(text)
    .replace(EXCEPTION_CLASS, '$& exception')
    .replace(ENVIRONMENT_VARIABLE, '$& environment variable')
    .toLowerCase();
  for (const [pattern, replacement] of CHAR_REWRITES) t = t.replace(pattern, replacement);
  return t;
}

/** The stem of a word as written (after its alias). */
const wordStem = (raw: string): string => stem(TOKEN_ALIASES[raw] ?? raw);

/** Lower-case words and digits, one space apart: 1,313 of the built-in roles' 1,329 vocabulary entries. */
const PLAIN_WORDS = /^[a-z0-9]+(?: [a-z0-9]+)*$/;

/** Lower-cases, rewrites, splits on word boundaries, applies aliases and stems. */
export function tokenize(text: string): string[] {
  // Plain words need none of normalise's rewrites (each needs a capital, a symbol or punctuation) and read
  // as themselves: split directly, the same words readSentences gives, at a fraction of its cost (compiling
  // the built-in vocabulary took 15 to 40 ms through it).
  if (PLAIN_WORDS.test(text)) return text.split(' ').map(wordStem);
  return readSentences(normalise(text)).map((w) => wordStem(w.raw));
}

interface Cue {
  tokens: string[];
  /** Index of the role in CompiledCatalog.roles, or -1 for a general language (no role evidence). */
  roleIndex: number;
  /** The field that sets the weight (the strongest one listing the entry). */
  field: Field;
  /** The requirement list the entry is reported in (languages / frameworks / skills), if any. */
  list?: Exclude<Field, 'keyword'>;
  /** The vocabulary entry as written, reported in the requirement lists. */
  term: string;
  weight: number;
  /**
   * A single past participle ("exposed", "leaked", "notified"): it names a state, so it does not match the
   * imperative verb of the same stem, which names an action ("Expose the results over HTTP").
   */
  participle?: boolean;
}

/** A one-word entry written as a past participle (its stem dropped the "ed"). */
function isParticiple(term: string, tokens: readonly string[]): boolean {
  return tokens.length === 1 && /^[a-z]+ed$/.test(term) && tokens[0] !== term;
}

/** A sense of an ambiguous word, compiled: a cue per role of the sense, and the stems that signal it. */
interface CompiledSense {
  cues: Cue[];
  near: ReadonlySet<string>;
}

interface CompiledCatalog {
  /** The roles' names, in catalog order (a cue's roleIndex). */
  names: string[];
  /** The senses of ambiguous words (BUILTIN_WORD_SENSES), by the word's stem, over the catalog's roles. */
  senses: Map<string, CompiledSense[]>;
  cues: Cue[];
  /** Cues by their first token, for a single pass over the description. */
  byFirstToken: Map<string, Cue[]>;
  /** One-word languages and frameworks, which may stand inside a phrase (see phraseEnd). */
  technologies: Set<string>;
}

const compiled = new WeakMap<RoleCatalog, CompiledCatalog>();
/**
 * Compiled vocabularies by content, for catalogs built again from the same configuration: each handler
 * module builds its own (the embedded runtime loads several in one process, and Route's and Complete's both
 * route), and compiling the built-in roles' 1,256 entries (then) took 15 to 40 ms. The last few compiled are kept
 * (cues are never changed once compiled, so catalogs can share them).
 */
const compiledByVocabulary = new Map<string, CompiledCatalog>();
const VOCABULARIES_KEPT = 8;

/** A role's vocabulary lists, each with the field that weighs its entries: all compile reads of a role. */
function vocabularyFields(role: Role): [Field, readonly string[]][] {
  return [
    ['keyword', role.keywords],
    ['skill', role.specializations.skills],
    ['framework', role.specializations.frameworks],
    ['language', role.specializations.languages],
  ];
}

/** What compile reads of a catalog, as one string: its roles' names and vocabulary, in order. */
function vocabularyOf(roles: readonly Role[]): string {
  return JSON.stringify(roles.map((r) => [r.name, vocabularyFields(r)]));
}

/**
 * The compiled vocabulary of a catalog: one object for every catalog with the same roles' names and
 * vocabulary, whatever else differs. Exported for tests; routing calls it through extractRequirements.
 */
export function compiledVocabulary(catalog: RoleCatalog): object {
  return compile(catalog);
}

function compile(catalog: RoleCatalog): CompiledCatalog {
  const cached = compiled.get(catalog);
  if (cached) return cached;
  const roles = [...catalog.values()];
  const vocabulary = vocabularyOf(roles);
  const same = compiledByVocabulary.get(vocabulary);
  if (same) {
    compiled.set(catalog, same);
    return same;
  }
  // One cue per (role, token sequence), keeping the strongest field when a role lists a phrase twice.
  const perRole = new Map<string, Cue>();
  const rolesPerKey = new Map<string, Set<number>>();
  roles.forEach((role, roleIndex) => {
    for (const [field, terms] of vocabularyFields(role)) {
      for (const term of terms) {
        const tokens = tokenize(term);
        if (tokens.length === 0) continue;
        const key = tokens.join(' ');
        const id = `${roleIndex}|${key}`;
        const previous = perRole.get(id);
        if (previous) {
          // Listed twice ("rollout" as keyword and skill): weigh it as the keyword, report it as the skill.
          if (EVIDENCE_WEIGHTS[field] > EVIDENCE_WEIGHTS[previous.field]) previous.field = field;
          if (previous.list === undefined && field !== 'keyword') {
            previous.list = field;
            previous.term = term.toLowerCase();
          }
          continue;
        }
        perRole.set(id, {
          tokens,
          roleIndex,
          field,
          ...(field === 'keyword' ? {} : { list: field }),
          term: term.toLowerCase(),
          weight: 0,
          ...(isParticiple(term.toLowerCase(), tokens) ? { participle: true } : {}),
        });
        let holders = rolesPerKey.get(key);
        if (!holders) {
          holders = new Set();
          rolesPerKey.set(key, holders);
        }
        holders.add(roleIndex);
      }
    }
  });
  const cues: Cue[] = [];
  for (const cue of perRole.values()) {
    const sharedBy = rolesPerKey.get(cue.tokens.join(' '))?.size ?? 1;
    cue.weight =
      (EVIDENCE_WEIGHTS[cue.field] * (1 + PHRASE_BONUS_PER_WORD * (cue.tokens.length - 1))) /
      Math.sqrt(sharedBy);
    cues.push(cue);
  }
  for (const term of GENERAL_LANGUAGES) {
    cues.push({
      tokens: tokenize(term),
      roleIndex: -1,
      field: 'language',
      list: 'language',
      term: LANGUAGE_CANONICAL[term] ?? term,
      weight: 0,
    });
  }
  const byFirstToken = new Map<string, Cue[]>();
  for (const cue of cues) {
    const first = cue.tokens[0] as string;
    const list = byFirstToken.get(first);
    if (list) list.push(cue);
    else byFirstToken.set(first, [cue]);
  }
  const technologies = new Set<string>();
  for (const cue of cues) {
    if (cue.tokens.length === 1 && (cue.list === 'language' || cue.list === 'framework'))
      technologies.add(cue.tokens[0] as string);
  }
  const names = roles.map((r) => r.name);
  const result = { names, cues, byFirstToken, technologies, senses: compileSenses(names) };
  compiled.set(catalog, result);
  compiledByVocabulary.set(vocabulary, result);
  if (compiledByVocabulary.size > VOCABULARIES_KEPT) {
    compiledByVocabulary.delete(compiledByVocabulary.keys().next().value as string);
  }
  return result;
}

/** The word senses over the roles of a catalog: a sense none of whose roles is in it is left out. */
function compileSenses(names: readonly string[]): Map<string, CompiledSense[]> {
  const senses = new Map<string, CompiledSense[]>();
  for (const [word, list] of Object.entries(BUILTIN_WORD_SENSES)) {
    const [token] = tokenize(word);
    const compiledList = list.flatMap((sense: WordSense) => {
      const roleIndexes = sense.roles.map((r) => names.indexOf(r)).filter((i) => i >= 0);
      if (roleIndexes.length === 0) return [];
      const weight = EVIDENCE_WEIGHTS.keyword / Math.sqrt(roleIndexes.length);
      const cues = roleIndexes.map(
        (roleIndex): Cue => ({ tokens: [token as string], roleIndex, field: 'keyword', term: word, weight }),
      );
      return [{ cues, near: new Set(sense.near.flatMap((w) => tokenize(w))) }];
    });
    if (token !== undefined && compiledList.length > 0) senses.set(token, compiledList);
  }
  return senses;
}

/** How many words either side of an ambiguous word may signal its sense. */
const SENSE_WINDOW = 8;

/**
 * Gives each ambiguous word of the description the roles of its sense (see BUILTIN_WORD_SENSES). The
 * request's main verb decides first: when it is one of the words that signal exactly one sense ("Check the
 * JWT expiry ..." asks for an audit, "Implement the JWT refresh ..." for the feature), that sense is the
 * word's, whatever its neighbours are; nouns around the word say what it is about, the verb what is to be
 * done with it. Otherwise the sense whose words outnumber every other's within SENSE_WINDOW words either
 * side of it. The word's one-word matches for other roles are dropped, and the sense's roles get it as a
 * keyword where they do not list it. A word with no sense signalled (or two signalled equally) keeps its
 * matches. The ambiguous word is never its own signal, even as the main verb ("Test the migration ...").
 */
function applySenses(
  index: CompiledCatalog,
  tokens: readonly string[],
  factors: readonly number[],
  mainVerbs: readonly boolean[],
  found: Map<Cue, Match>,
): void {
  for (let i = 0; i < tokens.length; i++) {
    const senses = index.senses.get(tokens[i] as string);
    if (senses === undefined || (factors[i] ?? 0) === 0) continue;
    const sense = senseByMainVerb(senses, tokens, mainVerbs, i) ?? senseByNeighbours(senses, tokens, i);
    if (sense === undefined) continue;
    const roles = new Set(sense.cues.map((c) => c.roleIndex));
    const oneWord = (m: Match) => m.start === i && m.end === i + 1;
    for (const [cue, m] of found) if (oneWord(m) && !roles.has(cue.roleIndex)) found.delete(cue);
    for (const cue of sense.cues) {
      const listed = [...found.values()].some((m) => oneWord(m) && m.cue.roleIndex === cue.roleIndex);
      if (!listed && !found.has(cue)) found.set(cue, { cue, start: i, end: i + 1, factor: factors[i] ?? 0 });
    }
  }
}

/** The one sense the request's main verb signals for the word at `at`, if its words signal exactly one. */
function senseByMainVerb(
  senses: readonly CompiledSense[],
  tokens: readonly string[],
  mainVerbs: readonly boolean[],
  at: number,
): CompiledSense | undefined {
  const signalled = new Set<CompiledSense>();
  for (let j = 0; j < tokens.length; j++) {
    if (j === at || !mainVerbs[j]) continue;
    for (const sense of senses) if (sense.near.has(tokens[j] as string)) signalled.add(sense);
  }
  return signalled.size === 1 ? [...signalled][0] : undefined;
}

/** The sense whose words outnumber every other's within SENSE_WINDOW words either side of `at`, if one does. */
function senseByNeighbours(
  senses: readonly CompiledSense[],
  tokens: readonly string[],
  at: number,
): CompiledSense | undefined {
  const counts = senses.map((sense) => {
    let count = 0;
    for (let j = Math.max(0, at - SENSE_WINDOW); j <= at + SENSE_WINDOW && j < tokens.length; j++) {
      if (j !== at && sense.near.has(tokens[j] as string)) count++;
    }
    return count;
  });
  const most = Math.max(...counts);
  if (most === 0 || counts.filter((c) => c === most).length > 1) return undefined;
  return senses[counts.indexOf(most)];
}

function matchesAt(
  tokens: readonly string[],
  at: number,
  phrase: readonly string[],
  breaks?: readonly boolean[],
): boolean {
  if (at + phrase.length > tokens.length) return false;
  for (let k = 1; k < phrase.length; k++) {
    if (tokens[at + k] !== phrase[k] || breaks?.[at + k]) return false;
  }
  return true;
}

/**
 * Where a phrase of the vocabulary found at `at` ends (exclusive), or -1. One technology may stand inside it,
 * naming what the phrase applies to: "structured JSON logging", "a multi-stage Docker build", "slow Postgres
 * query" are the phrases "structured logging", "multi stage build" and "slow query".
 */
function phraseEnd(
  tokens: readonly string[],
  at: number,
  phrase: readonly string[],
  breaks: readonly boolean[],
  technologies: ReadonlySet<string>,
): number {
  if (matchesAt(tokens, at, phrase, breaks)) return at + phrase.length;
  let skipped = false;
  let i = at + 1;
  for (let k = 1; k < phrase.length; k++, i++) {
    if (breaks[i]) return -1;
    if (tokens[i] !== phrase[k]) {
      if (skipped || !technologies.has(tokens[i] as string) || breaks[i + 1]) return -1;
      skipped = true;
      i++;
      if (tokens[i] !== phrase[k]) return -1;
    }
  }
  return i;
}

// ------------------------------------------------------------------------------------------ complexity

/** Cues that a task is large or intricate (each +1). */
const HIGH_COMPLEXITY_CUES = [
  'distributed',
  'migration of',
  'migrate the entire',
  'entire',
  'whole',
  'across',
  'multiple',
  'several',
  'large',
  'complex',
  'scalable',
  'at scale',
  'high availability',
  'zero downtime',
  'multi tenant',
  'multi region',
  'end to end',
  'concurrency',
  'real time',
  'architecture',
  'from scratch',
  'monolith',
];
/** Cues that a task is small (each -1). */
const LOW_COMPLEXITY_CUES = [
  'typo',
  'small',
  'simple',
  'minor',
  'trivial',
  'quick',
  'tweak',
  'one line',
  'single',
  'bump',
  'rename',
];
const HIGH_CUE_TOKENS = HIGH_COMPLEXITY_CUES.map(tokenize);
const LOW_CUE_TOKENS = LOW_COMPLEXITY_CUES.map(tokenize);
/** Descriptions longer than this many words are long specs; shorter than SHORT are one-liners. */
const LONG_DESCRIPTION_TOKENS = 60;
const VERY_LONG_DESCRIPTION_TOKENS = 150;
const SHORT_DESCRIPTION_TOKENS = 5;
/** Distinct languages + frameworks from which a task spans several components. */
const MANY_COMPONENTS = 3;
/** Conjunctions and list separators from which a task enumerates many parts. */
const MANY_PARTS = 4;
const HIGH_COMPLEXITY_SCORE = 2;
const LOW_COMPLEXITY_SCORE = -1;

function countPhrases(tokens: readonly string[], phrases: readonly string[][]): number {
  let count = 0;
  for (const phrase of phrases) {
    const first = phrase[0];
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] === first && matchesAt(tokens, i, phrase)) {
        count++;
        break;
      }
    }
  }
  return count;
}

/**
 * low / medium / high from size words ("small", "typo" vs "distributed", "entire", "migration of"),
 * the number of technologies involved, how many parts the description enumerates, and its length.
 */
export function estimateComplexity(
  description: string,
  components: number,
  tokens = tokenize(description),
): Complexity {
  let score = countPhrases(tokens, HIGH_CUE_TOKENS) - countPhrases(tokens, LOW_CUE_TOKENS);
  if (components >= MANY_COMPONENTS) score++;
  const parts = (description.match(/,|;|\band\b|\n[-*] /g) ?? []).length;
  if (parts >= MANY_PARTS) score++;
  if (tokens.length >= LONG_DESCRIPTION_TOKENS) score++;
  if (tokens.length >= VERY_LONG_DESCRIPTION_TOKENS) score++;
  if (tokens.length <= SHORT_DESCRIPTION_TOKENS) score--;
  if (score >= HIGH_COMPLEXITY_SCORE) return 'high';
  if (score <= LOW_COMPLEXITY_SCORE) return 'low';
  return 'medium';
}

// ------------------------------------------------------------------------------------------ extraction

interface Match {
  cue: Cue;
  start: number;
  /** Exclusive. */
  end: number;
  /** How much the sentence part of the match counts (SENTENCE_PART_WEIGHTS). */
  factor: number;
}

/**
 * Evidence per role from the matches. A word that is part of a longer matched phrase does not count on its
 * own: in "integration tests", "test" is the integration tester's phrase, not unit-test work; and within a
 * role the phrase counts once (its phrase bonus already says it is more specific than its words).
 */
function roleEvidence(roleCount: number, matches: readonly Match[]): Float64Array {
  const contributions: number[][] = Array.from({ length: roleCount }, () => []);
  const strongest = new Float64Array(roleCount);
  for (const m of matches) {
    if (m.cue.roleIndex < 0) continue;
    const subsumed = matches.some(
      (other) => other.start <= m.start && other.end >= m.end && other.end - other.start > m.end - m.start,
    );
    if (subsumed) continue;
    contributions[m.cue.roleIndex]?.push(m.cue.weight * m.factor);
    // Tie-break: the role matched in the strongest part of the sentence, then the earliest.
    const rank = m.factor * TIE_PART_SCALE - Math.min(m.start, TIE_PART_SCALE - 1);
    strongest[m.cue.roleIndex] = Math.max(strongest[m.cue.roleIndex] ?? 0, rank);
  }
  const evidence = new Float64Array(roleCount);
  contributions.forEach((list, i) => {
    if (list.length === 0) return;
    list.sort((x, y) => y - x);
    const sum = list.reduce((total, c, k) => total + c * EVIDENCE_DECAY ** k, 0);
    evidence[i] = sum + TIE_EPSILON * (strongest[i] ?? 0);
  });
  return evidence;
}

/**
 * Equal evidence is broken by where it stands: TIE_EPSILON x (part weight x TIE_PART_SCALE - position of
 * the match) is far below any real difference of evidence (the smallest is a language word, 1 / sqrt(22)
 * x 0.75), so it only orders roles the words cannot tell apart, and deterministically.
 */
const TIE_EPSILON = 1e-7;

const TIE_PART_SCALE = 1000;

/** Explicit requirement terms count like a word of the main clause's modifiers. */
const EXPLICIT_TERM_FACTOR = SENTENCE_PART_WEIGHTS.modifier;

/**
 * The weight of a match by the sentence parts of its words: the strongest part it touches, or nothing
 * when it starts in a negated span (a phrase that starts with "without" keeps its own part).
 */
function matchFactor(factors: readonly number[], start: number, end: number): number {
  if ((factors[start] ?? 0) === 0) return 0;
  let best = 0;
  for (let k = start; k < end; k++) best = Math.max(best, factors[k] ?? 0);
  return best;
}

function pushUnique(list: string[], value: string): void {
  if (!list.includes(value)) list.push(value);
}

/**
 * What the task needs and which roles fit it, best first (see the module comment for the rules).
 * Pure and deterministic.
 */
export function extractRequirements(task: Task, catalog: RoleCatalog): ExtractedRequirements {
  const index = compile(catalog);
  const explicit = task.requirements;
  const explicitTerms = [
    ...(explicit?.languages ?? []),
    ...(explicit?.frameworks ?? []),
    ...(explicit?.skills ?? []),
  ];
  const words = readSentences(normalise(task.description));
  const tokens = words.map((w) => wordStem(w.raw));
  const breaks = words.map((w) => w.breakBefore);
  const factors = words.map((w) => SENTENCE_PART_WEIGHTS[w.part]);
  const mainVerbs = words.map((w) => w.part === 'verb');
  // Explicit requirement terms count as plain evidence, each on its own.
  for (const term of explicitTerms) {
    tokenize(term).forEach((t, k) => {
      tokens.push(t);
      breaks.push(k === 0);
      factors.push(EXPLICIT_TERM_FACTOR);
    });
  }
  const descriptionTokens = words.length;

  // One match per cue, where it weighs most ("test" as the verb and again in a modifier).
  const found = new Map<Cue, Match>();
  for (let i = 0; i < tokens.length; i++) {
    const cues = index.byFirstToken.get(tokens[i] as string);
    if (!cues) continue;
    for (const cue of cues) {
      const end = phraseEnd(tokens, i, cue.tokens, breaks, index.technologies);
      if (end < 0) continue;
      if (cue.participle && mainVerbs[i]) continue;
      const factor = matchFactor(factors, i, end);
      const previous = found.get(cue);
      if (previous === undefined) found.set(cue, { cue, start: i, end, factor });
      else if (factor > previous.factor) Object.assign(previous, { start: i, end, factor });
    }
  }
  applySenses(index, tokens.slice(0, words.length), factors, mainVerbs, found);
  // What must not be done ("without changing the API") is neither evidence nor a requirement.
  const matches = [...found.values()].filter((m) => m.factor > 0).sort((a, b) => a.start - b.start);
  const languages: string[] = [];
  const frameworks: string[] = [];
  const skills: string[] = [];
  for (const { cue } of matches) {
    if (cue.list === 'language') pushUnique(languages, cue.term);
    else if (cue.list === 'framework') pushUnique(frameworks, cue.term);
    else if (cue.list === 'skill') pushUnique(skills, cue.term);
  }
  const evidence = roleEvidence(index.names.length, matches);

  const complexity = estimateComplexity(
    task.description,
    languages.length + frameworks.length,
    tokens.slice(0, descriptionTokens),
  );
  const lower = (list: readonly string[] | undefined) => list?.map((s) => s.toLowerCase());
  const requirements = {
    languages: lower(explicit?.languages) ?? languages,
    frameworks: lower(explicit?.frameworks) ?? frameworks,
    skills: lower(explicit?.skills) ?? skills,
    complexity,
  };
  if (task.role !== undefined) {
    return { explicitRole: task.role, ...requirements, roleCandidates: [{ role: task.role, confidence: 1 }] };
  }

  let best = 0;
  for (const e of evidence) if (e > best) best = e;
  const roleCandidates: ExtractedRequirements['roleCandidates'] = [];
  index.names.forEach((role, i) => {
    const e = evidence[i] ?? 0;
    if (e > 0) roleCandidates.push({ role, confidence: e / (best + CONFIDENCE_HALF_SATURATION) });
  });
  roleCandidates.sort(
    (a, b) => b.confidence - a.confidence || (a.role < b.role ? -1 : a.role > b.role ? 1 : 0),
  );
  return { ...requirements, roleCandidates };
}
