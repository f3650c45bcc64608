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
    persona: 'p',
    label: 'l',
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

  it('reads the kind of tracker item a heading names as a label counting for nothing, its other words as the heading', () => {
    expect(parts('Bug: the export button does nothing')).toBe(
      'bug/l the/c export/c button/c does/c nothing/c',
    );
    expect(parts('FE ticket: add a tooltip')).toBe('fe/H ticket/l add/V a/O tooltip/O');
    expect(parts('Bug report: rotate the keys')).toBe('bug/l report/l rotate/V the/O keys/O');
    // A title after a tracker kind names the work as any title does; "report" alone is no tracker kind.
    expect(parts('Story: pagination for the audit log')).toBe(
      'story/l pagination/O for/m the/m audit/m log/m',
    );
    expect(parts('SQL report: revenue per region')).toBe('sql/H report/H revenue/c per/c region/c');
  });

  it('reads a bracketed tag opening a title as its heading, and the request after it as the work', () => {
    expect(parts('[API] Return the totals in cents')).toBe('api/H return/V the/O totals/O in/m cents/m');
    expect(parts('[Ops][Urgent] rotate the keys')).toBe('ops/H urgent/H rotate/V the/O keys/O');
    // Brackets elsewhere are not a tag.
    expect(parts('Fix the items[0] access in the loop')).toBe(
      'fix/V the/O items/O 0/O access/O in/m the/m loop/m',
    );
  });

  it('reads the type of a commit title as its heading and its scope as a modifier, even when a verb', () => {
    expect(parts('fix(cart): totals round down')).toBe('fix/H cart/m totals/c round/c down/c');
    expect(parts('test: cover the parser in the CLI')).toBe('test/H cover/V the/O parser/O in/m the/m cli/m');
    // A verb with an object before a colon is still the request.
    expect(parts('Review the PR: it adds caching')).toBe('review/V the/O pr/O it/m adds/m caching/m');
  });

  it('reads a verb-like word followed by the verb of a statement as its subject, not as an imperative', () => {
    expect(parts('Build fails on the arm runners')).toBe('build/c fails/c on/c the/c arm/c runners/c');
    expect(parts('Explain shows a full scan')).toBe('explain/c shows/c a/c full/c scan/c');
    expect(parts('Build the image on arm runners')).toBe('build/V the/O image/O on/m arm/m runners/m');
    // The subject may be a compound noun the verb-like word starts.
    expect(parts('Review process takes two days')).toBe('review/c process/c takes/c two/c days/c');
    expect(parts('Test the login flow is working')).toBe('test/V the/O login/O flow/O is/O working/O');
  });

  it('reads a request spliced onto a statement with a comma as the work', () => {
    expect(parts('The token never expires, rotate the signing key')).toBe(
      'the/c token/c never/c expires/c rotate/V the/O signing/O key/O',
    );
    expect(parts('The cache is cold, find and fix the cause')).toBe(
      'the/c cache/c is/c cold/c find/V and/O fix/O the/O cause/O',
    );
    // A verb-like noun after a comma is not a request.
    expect(parts('The parser is new, test coverage is low')).toBe(
      'the/c parser/c is/c new/c test/c coverage/c is/c low/c',
    );
  });

  it('takes a pronoun object of a spliced request from the clause just before it, "that" included', () => {
    expect(parts('the docs are fine, the arm build fails, please fix that')).toBe(
      'the/c docs/c are/c fine/c the/O arm/O build/O fails/O please/c fix/V that/O',
    );
    expect(parts('The import is slow. Fix this')).toBe('the/O import/O is/O slow/O fix/V this/O');
  });

  it('reads the benefit of a user story ("so that ...", "so we ...") as context, not as the work', () => {
    expect(parts('I want an audit log so that admins can review changes')).toBe(
      'i/m want/V an/O audit/O log/O so/c that/c admins/c can/c review/c changes/c',
    );
    expect(parts('Add a retry so we stop losing events')).toBe(
      'add/V a/O retry/O so/c we/c stop/c losing/c events/c',
    );
  });

  it('reads an imperative after a request put as a question as the main request, the question as a step', () => {
    expect(parts('Can we store the rates? Measure the hit ratio')).toBe(
      'can/c we/c store/K the/K rates/K measure/V the/O hit/O ratio/O',
    );
    expect(parts('Can we store the rates? The hit ratio is high')).toBe(
      'can/c we/c store/V the/O rates/O the/c hit/c ratio/c is/c high/c',
    );
    // A question after the request is a step of it, as before.
    expect(parts('Store the rates. Can we measure the hit ratio?')).toBe(
      'store/V the/O rates/O can/c we/c measure/K the/K hit/K ratio/K',
    );
  });

  it('counts what an inspection looks for as part of its object', () => {
    expect(parts('Scan the images for known CVEs')).toBe('scan/V the/O images/O for/O known/O cves/O');
    expect(parts('Add a cache for the sessions')).toBe('add/V a/O cache/O for/m the/m sessions/m');
  });

  it('ends the object at any preposition, "outside" included', () => {
    expect(parts('Schedule it outside office hours')).toBe('schedule/V it/O outside/m office/m hours/m');
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

  it('reads a request after the colon of a statement as the work, and a subject after it as none', () => {
    expect(parts('Crash reports from the beta: check whether the upload retries')).toBe(
      'crash/c reports/c from/c the/c beta/c check/V whether/O the/O upload/O retries/O',
    );
    expect(parts('Seen on the release branch since Monday: build fails on arm64')).toBe(
      'seen/c on/c the/c release/c branch/c since/c monday/c build/c fails/c on/c arm64/c',
    );
  });

  it('takes a pronoun object that a result phrase follows from the sentence before', () => {
    expect(parts('The config has three copies. Split it into a base and overrides')).toBe(
      'the/O config/O has/O three/O copies/O split/V it/O into/O a/O base/O and/O overrides/O',
    );
  });

  it('reads a description that asks for nothing as a title: its opening noun phrase is the object', () => {
    expect(parts('Slack alerts for failed payments')).toBe('slack/O alerts/O for/m failed/m payments/m');
    // A statement is no title, even with a plural subject; nor is a question or a longer text.
    expect(parts('Nightly exports keep failing for big tenants')).toBe(
      'nightly/c exports/c keep/c failing/c for/c big/c tenants/c',
    );
    expect(parts('Slack alerts for failed payments?')).toBe('slack/c alerts/c for/c failed/c payments/c');
    expect(parts('Slack alerts for failed payments. Mostly at night')).toBe(
      'slack/c alerts/c for/c failed/c payments/c mostly/c at/c night/c',
    );
  });

  it('reads the persona of a user story, with or without a comma, as counting for nothing', () => {
    expect(parts('As a release manager, I want a page of the deploys')).toBe(
      'as/p a/p release/p manager/p i/m want/V a/O page/O of/m the/m deploys/m',
    );
    expect(parts('As an admin I want to reset passwords')).toBe(
      'as/p an/p admin/p i/m want/c to/c reset/V passwords/O',
    );
    // "As" that opens no persona is read as before.
    expect(parts('As agreed, add the endpoint')).toBe('as/c agreed/c add/V the/O endpoint/O');
  });

  it('keeps the words of the text in order', () => {
    const text = '[BE][x] Fix the N+1 queries (orders.py) - then, re-run the v2.4 job: done? fix(a[0]): b';
    expect(readSentences(text.toLowerCase()).map((w) => w.raw)).toEqual(
      text
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter(Boolean),
    );
  });
});
