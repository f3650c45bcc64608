import { describe, expect, it } from 'vitest';
import { readSentences, type SentencePart } from '../../../shared/domain/sentence';

/** The words of `text` with the first letter of their part: v(erb) o(bject) m(odifier) c(ontext) ... */
function parts(text: string): string {
  const letter: Record<SentencePart, string> = {
    verb: 'V',
    object: 'O',
    heading: 'H',
    coordinated: 'K',
    purpose: 'P',
    modifier: 'm',
    context: 'c',
    negated: 'x',
  };
  return readSentences(text.toLowerCase())
    .map((w) => `${w.raw}/${letter[w.part]}`)
    .join(' ');
}

describe('readSentences', () => {
  it('reads the main verb, its object and the modifiers of an imperative', () => {
    expect(parts('Write a client for the GitHub API')).toBe(
      'write/V a/O client/O for/m the/m github/m api/m',
    );
  });

  it('skips the fillers of a request and keeps a particle with its verb', () => {
    expect(parts('Could you please speed up the build')).toBe(
      'could/c you/c please/c speed/V up/V the/O build/O',
    );
  });

  it('reads a purpose clause and a coordinated verb with their own weights', () => {
    expect(parts('Add caching to cut the latency and report it')).toBe(
      'add/V caching/O to/m cut/P the/P latency/P and/m report/P it/P',
    );
    expect(parts('Reproduce the bug and write up the steps')).toBe(
      'reproduce/V the/O bug/O and/m write/K up/K the/K steps/K',
    );
  });

  it('takes a pronoun object from the sentence before', () => {
    expect(parts('The page is slow; fix it')).toBe('the/O page/O is/O slow/O fix/V it/O');
    expect(parts('Cold starts take 3 s. Bring them down')).toBe(
      'cold/O starts/O take/O 3/O s/O bring/V them/O down/V',
    );
  });

  it('takes the sentence before as the object of a verb with nothing after it', () => {
    expect(parts('The export times out. Investigate.')).toBe('the/O export/O times/O out/O investigate/V');
    expect(parts('The export times out. Investigate the logs')).toBe(
      'the/c export/c times/c out/c investigate/V the/O logs/O',
    );
  });

  it('reads a statement or a question without a verb of its own as context', () => {
    expect(parts('Is the endpoint slow?')).toBe('is/c the/c endpoint/c slow/c');
  });

  it('reads the verb after a modal or a need', () => {
    expect(parts('The mobile team needs an endpoint')).toBe('the/m mobile/m team/m needs/V an/O endpoint/O');
    expect(parts('Our form should highlight errors')).toBe('our/m form/m should/c highlight/V errors/O');
    expect(parts('The team needs a faster build')).toBe('the/m team/m needs/V a/O faster/O build/O');
  });

  it('reads a later request as a step of the first, weighed like a coordinated verb', () => {
    expect(parts('Add the constraint; clean up the duplicates first')).toBe(
      'add/V the/O constraint/O clean/K up/K the/K duplicates/K first/K',
    );
    expect(parts('How should we cache it? Write the design')).toBe(
      'how/m should/V we/O cache/O it/O write/V the/O design/O',
    );
  });

  it('reads a request addressed to someone as an imperative', () => {
    expect(parts('Can someone review the diff?')).toBe('can/c someone/c review/V the/O diff/O');
    expect(parts('someone please fix the build')).toBe('someone/c please/c fix/V the/O build/O');
  });

  it('reads a short label before a colon as the heading of the work', () => {
    expect(parts('Code review: the new PR')).toBe('code/H review/H the/c new/c pr/c');
  });

  it('counts a result phrase as part of the object', () => {
    expect(parts('Split the module into services for clarity')).toBe(
      'split/V the/O module/O into/O services/O for/m clarity/m',
    );
  });

  it('marks what must not be done after "without" or a clause-initial "don\'t"', () => {
    expect(parts('Move the queries without changing the API, and add tests')).toBe(
      'move/V the/O queries/O without/m changing/x the/x api/x and/m add/K tests/K',
    );
    expect(parts("Rename the module; don't touch the schema")).toBe(
      'rename/V the/O module/O do/K not/K touch/x the/x schema/x',
    );
    expect(parts('Move the queries without changing the API or the schema')).toBe(
      'move/V the/O queries/O without/m changing/x the/x api/x or/x the/x schema/x',
    );
  });

  it('marks what "no" or "not" excludes once the work is asked for, and reads it as written before', () => {
    expect(parts('Add the endpoint. No UI changes, not the client either')).toBe(
      'add/V the/O endpoint/O no/c ui/x changes/x not/c the/x client/x either/x',
    );
    expect(parts('Fix the build - no changes to the tests or the docs, and add a note')).toBe(
      'fix/V the/O build/O no/O changes/x to/x the/x tests/x or/x the/x docs/x and/m add/K a/K note/K',
    );
    expect(parts('No tests cover the parser; write some')).toBe(
      'no/O tests/O cover/O the/O parser/O write/V some/O',
    );
  });

  it('keeps the words of the text in order', () => {
    const text = 'Fix the N+1 queries (orders.py) - then, re-run the v2.4 job: done?';
    expect(readSentences(text.toLowerCase()).map((w) => w.raw)).toEqual(
      text
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter(Boolean),
    );
  });
});
