import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compiledVocabulary } from '../../../shared/domain/requirements';
import { BUILTIN_ROLES, resolveRoles } from '../../../shared/domain/roles';
import {
  decideRoute,
  defaultAgentPool,
  estimateComplexity,
  extractRequirements,
  FALLBACK_ROLE,
  stem,
  targetRole,
  tokenize,
} from '../../../shared/domain/routing';

const catalog = resolveRoles();
const pool = defaultAgentPool(catalog, 0);

function routeOf(description: string): string {
  const task = { id: 't', description };
  const requirements = extractRequirements(task, catalog);
  const result = decideRoute({ task, requirements, agents: pool, catalog, exclude: new Set(), now: 0 });
  return result.kind === 'route' ? result.decision.role : `none:${result.role}`;
}

function topRole(description: string): string | undefined {
  return extractRequirements({ id: 't', description }, catalog).roleCandidates[0]?.role;
}

describe('tokenize and stem', () => {
  it('brings inflections of a word to one stem', () => {
    expect(new Set(['tests', 'testing', 'tested', 'test'].map(stem))).toEqual(new Set(['test']));
    expect(stem('optimise')).toBe(stem('optimize'));
    expect(stem('optimising')).toBe(stem('optimizing'));
    expect(stem('behaviour')).toBe(stem('behavior'));
    expect(stem('queries')).toBe(stem('query'));
    expect(stem('settings')).toBe(stem('setting'));
    expect(stem('settings')).not.toBe(stem('set'));
  });

  it('splits on word boundaries and applies aliases', () => {
    expect(tokenize('Deploy to K8s (ci/cd), C# and node.js')).toEqual([
      'deploy',
      'to',
      'kubernet',
      'ci',
      'cd',
      'csharp',
      'and',
      'node',
    ]);
  });

  // Plain lower-case words are split directly; a full stop after them sends the same words through the
  // sentence reader and normalise's rewrites, which must give the same tokens.
  it('gives plain lower-case words the tokens the sentence reader gives them', () => {
    const terms = BUILTIN_ROLES.flatMap((r) => [
      ...r.keywords,
      ...r.specializations.skills,
      ...r.specializations.frameworks,
      ...r.specializations.languages,
    ]).filter((t) => /^[a-z0-9 ]+$/.test(t));
    expect(terms.length).toBeGreaterThan(1000);
    for (const term of terms) expect(tokenize(term), term).toEqual(tokenize(`${term}.`));

    const word = fc.oneof(
      fc.constantFrom(
        'k8s',
        'tests',
        'settings',
        'without',
        'not',
        'the',
        'of',
        'api',
        'sdks',
        'nodejs',
        'v2',
      ),
      fc.stringMatching(/^[a-z0-9]{1,9}$/),
    );
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), (words) => {
        const phrase = words.join(' ');
        expect(tokenize(phrase)).toEqual(tokenize(`${phrase}.`));
      }),
    );
  });

  it('does not read "set up" as configuration settings', () => {
    const requirements = extractRequirements(
      { id: 't', description: 'Set up Prometheus alerts for API latency' },
      catalog,
    );

    expect(requirements.roleCandidates.map((c) => c.role)).not.toContain('configuration_manager');
  });

  it('reads no pronoun, determiner, auxiliary or preposition as vocabulary', () => {
    const functionWords = (
      'i me my we us our you your he him his she her it its they them their this that these those there ' +
      'here where when what which who whose why how all any some each every both none no not only also ' +
      'very more most less other such same so than too just then now is are was were be been have has had ' +
      'do does did will would shall should can could may might must and or but if because as until while ' +
      'of at by for with about between into through during before after to from in on'
    ).split(' ');
    const plain = extractRequirements({ id: 't', description: 'Handle properly' }, catalog).roleCandidates;

    for (const word of functionWords) {
      const candidates = extractRequirements(
        { id: 't', description: `Handle ${word} properly` },
        catalog,
      ).roleCandidates;
      expect(candidates, word).toEqual(plain);
    }
    expect(stem('theme')).not.toBe(stem('them'));
  });

  it('does not match a word inside another word', () => {
    const requirements = extractRequirements({ id: 't', description: 'Contest the latest prices' }, catalog);

    expect(requirements.roleCandidates.map((c) => c.role)).not.toContain('test_generator');
  });
});

describe('the compiled vocabulary', () => {
  it('is compiled once for catalogs built again from the same configuration, as each handler builds its own', () => {
    const overrides = [{ name: 'code_reviewer', defaults: { capacity: 7 } }];

    expect(compiledVocabulary(resolveRoles())).toBe(compiledVocabulary(resolveRoles()));
    expect(compiledVocabulary(resolveRoles(overrides))).toBe(compiledVocabulary(resolveRoles(overrides)));
    // Defaults are not vocabulary: the same one serves both.
    expect(compiledVocabulary(resolveRoles(overrides))).toBe(compiledVocabulary(resolveRoles()));
  });

  it('is compiled again when a name or any vocabulary list differs, and routes by the new one', () => {
    const base = compiledVocabulary(resolveRoles());
    const changes = [
      [{ name: 'code_reviewer', keywords: ['zebracode audit'] }, 'Run a zebracode audit', 'code_reviewer'],
      [
        { name: 'database_designer', specializations: { skills: ['zebracode tuning'] } },
        'Do some zebracode tuning',
        'database_designer',
      ],
      [
        { name: 'devops_engineer', specializations: { frameworks: ['zebrakube'] } },
        'Set up zebrakube for the service',
        'devops_engineer',
      ],
      [
        { name: 'typescript_frontend_agent', specializations: { languages: ['zebrascript'] } },
        'Write it in zebrascript',
        'typescript_frontend_agent',
      ],
    ] as const;

    for (const [override, description, role] of changes) {
      const changed = resolveRoles([override]);

      expect(compiledVocabulary(changed), description).not.toBe(base);
      expect(extractRequirements({ id: 't', description }, changed).roleCandidates[0]?.role).toBe(role);
      expect(extractRequirements({ id: 't', description }, catalog).roleCandidates[0]?.role).not.toBe(role);
    }
  });
});

describe('extractRequirements: the kind of work decides the role', () => {
  it.each([
    ['Write unit tests for the Python payment service', 'test_generator'],
    ['Review the TypeScript PR for the checkout page', 'code_reviewer'],
    ['Add a FastAPI endpoint', 'python_backend_coder'],
    ['Create a PostgreSQL migration adding an index', 'database_designer'],
    ['Set up Prometheus alerts for API latency', 'monitoring_agent'],
    ['Audit the Django login view for security vulnerabilities', 'security_auditor'],
    ['Document the React hooks of the design library in the README', 'documentation_writer'],
  ])('routes "%s" to %s', (description, role) => {
    expect(topRole(description)).toBe(role);
    expect(routeOf(description)).toBe(role);
  });
});

describe('extractRequirements: near roles', () => {
  it.each([
    ['Write the API reference and docstrings for the SDK', 'documentation_writer'],
    ['Write the release notes and a user guide for the new export feature', 'technical_writer'],
    ['Add a GitHub Actions pipeline that builds the Docker image', 'devops_engineer'],
    ['Plan the canary rollout and rollback steps for the release', 'deployment_coordinator'],
    ['Move the API keys to environment variables behind a feature flag', 'configuration_manager'],
    ['Add integration tests across the order and billing services', 'integration_tester'],
    ['Write the test plan and acceptance criteria for the refund feature', 'quality_assurance'],
    ['Extract the duplicated parsing code without changing behaviour', 'refactoring_specialist'],
    ['Profile the export job and reduce its latency', 'performance_optimizer'],
    ['Define service boundaries and write an ADR for the new architecture', 'system_architect'],
    ['Decompose this ambiguous problem and reason step by step about a plan', 'hrm_reasoning_agent'],
    ['Analyse churn by cohort with pandas and report the findings', 'data_analyst'],
    ['Normalise the orders schema and add a foreign key', 'database_designer'],
    ['Create wireframes and a user flow with accessibility notes', 'ui_ux_designer'],
    ['Implement the settings page component in React', 'typescript_frontend_agent'],
    ['Handle the Stripe webhook and integrate the third-party payment API', 'api_integrator'],
    ['Add retries with exponential backoff and a fallback when the call fails', 'error_handler'],
  ])('routes "%s" to %s', (description, role) => {
    expect(routeOf(description)).toBe(role);
  });

  it.each([
    // Words engineers use for the work that the vocabulary lacked.
    ['The ingest worker gets OOM-killed every night; find out why', 'performance_optimizer'],
    ['The import job runs out of memory on large files', 'performance_optimizer'],
    ['Page the on-call engineer when checkout errors spike', 'monitoring_agent'],
    ['Carve the search feature out into its own service and decide who owns which data', 'system_architect'],
    ['Write the GraphQL resolver for the products query in the Python backend', 'python_backend_coder'],
    ['Implement the undo/redo stack for the canvas editor', 'typescript_frontend_agent'],
    ['The nightly export to S3 has been timing out since Monday. Please fix.', 'error_handler'],
    ['Set up Fastlane to build and upload the iOS app to TestFlight on every tag', 'devops_engineer'],
    ["Our monthly AWS bill doubled; find what's driving it and cut it", 'devops_engineer'],
    ["Write the postmortem for Tuesday's outage", 'documentation_writer'],
    ['Localise the settings screen into Spanish', 'typescript_frontend_agent'],
    ['Add offline support to the mobile app so orders sync when it reconnects', 'typescript_frontend_agent'],
    ['Fix the janky scrolling in the product list', 'performance_optimizer'],
    ['Create a Kafka consumer in Python that writes order events to the warehouse', 'python_backend_coder'],
    // A mobile app mentioned in passing does not make the work front-end work.
    ['Decide how the mobile apps and the web app should share one authentication layer', 'system_architect'],
    // Machine learning goes to the analyst (no built-in role trains models), serving a model to the back end.
    ['Fine-tune a BERT model on our support tickets to classify urgency', 'data_analyst'],
    ['Train a model that flags fraudulent orders', 'data_analyst'],
    ['Serve the trained model behind an endpoint', 'python_backend_coder'],
  ])('knows the words of the trade: "%s" goes to %s', (description, role) => {
    expect(routeOf(description)).toBe(role);
  });
});

describe('extractRequirements: the work asked for outweighs words merely present', () => {
  it.each([
    // A technology or a role word in a modifier does not decide: the verb and its object do.
    ['Write a client library for the Bitbucket REST API', 'api_integrator'],
    ['Make the CI pipeline faster by caching its dependencies', 'devops_engineer'],
    ['Search the git history for committed secrets', 'security_auditor'],
    ['Debug the sporadic IndexError in the importer and fix its root cause', 'error_handler'],
    ['Write the OpenAPI specification for the billing endpoints', 'documentation_writer'],
    ['Document the environment variables of the worker', 'documentation_writer'],
    ['Review the pull request that adds the Terraform module', 'code_reviewer'],
    ['Write unit tests for the Stripe webhook handler', 'test_generator'],
    // A pronoun object takes its meaning from the sentence before.
    ['Our Lambda cold starts take four seconds; bring them down', 'performance_optimizer'],
    ['Is the file download endpoint open to path traversal? Check it', 'security_auditor'],
  ])('routes "%s" to %s', (description, role) => {
    expect(routeOf(description)).toBe(role);
  });

  it('counts nothing of what must not be done', () => {
    const requirements = extractRequirements(
      { id: 't', description: 'Restructure the data access layer without changing the public REST API' },
      catalog,
    );

    expect(targetRole(requirements)).toBe('refactoring_specialist');
    expect(requirements.skills).not.toContain('rest api');
    expect(requirements.frameworks).not.toContain('rest');
    expect(requirements.roleCandidates.map((c) => c.role)).not.toContain('python_backend_coder');
  });

  it('counts nothing of what the task excludes once the work is asked for', () => {
    const requirements = extractRequirements(
      {
        id: 't',
        description: 'Add retries to the sync job; no changes to the dashboard or the React components',
      },
      catalog,
    );

    expect(targetRole(requirements)).toBe('error_handler');
    expect(requirements.frameworks).not.toContain('react');
    expect(requirements.roleCandidates.map((c) => c.role)).not.toContain('typescript_frontend_agent');
  });

  it('reads a participle of the vocabulary as a state, not as the imperative of the same stem', () => {
    const state = extractRequirements(
      { id: 't', description: 'Customer emails are exposed in the public bucket listing' },
      catalog,
    );

    expect(routeOf('Expose the search results over HTTP in the Flask app')).toBe('python_backend_coder');
    expect(state.roleCandidates.map((c) => c.role)).toContain('security_auditor');
  });

  it.each([
    ['Switch the API to structured JSON logging', 'monitoring_agent'],
    ['Add a multi-stage Docker build for the worker', 'devops_engineer'],
  ])('reads a phrase with a technology inside it as the phrase: "%s" goes to %s', (description, role) => {
    expect(routeOf(description)).toBe(role);
  });

  it('lets only one technology, and no punctuation, stand inside a phrase', () => {
    const skills = (description: string) => extractRequirements({ id: 't', description }, catalog).skills;

    expect(skills('Add property-based Hypothesis testing')).toContain('property-based testing');
    expect(skills('Add property-based Hypothesis pytest testing')).not.toContain('property-based testing');
    expect(skills('Add property-based Hypothesis, testing')).not.toContain('property-based testing');
  });

  it.each([
    [
      'Add a foreign key from payments to invoices. Clean up the orphaned payments first.',
      'database_designer',
    ],
    [
      'Write the release notes for 4.1. Review the list of merged PRs to find what changed.',
      'technical_writer',
    ],
  ])('routes by the first request when later ones are its steps: "%s" goes to %s', (description, role) => {
    expect(routeOf(description)).toBe(role);
  });

  it('reads a request to "someone" for its work', () => {
    expect(routeOf('can someone give a second opinion on the error handling in the payments branch?')).toBe(
      'code_reviewer',
    );
  });

  it('reads an API named after a capitalised vendor as a third-party one, and ours as ours', () => {
    const vendor = extractRequirements(
      { id: 't', description: 'Call the Acme Billing API nightly' },
      catalog,
    );
    const ours = extractRequirements({ id: 't', description: 'Call the REST API nightly' }, catalog);

    expect(vendor.skills).toContain('third-party api');
    expect(targetRole(vendor)).toBe('api_integrator');
    expect(ours.skills).not.toContain('third-party api');
  });
});

describe('extractRequirements: tracker titles, commit titles and reports', () => {
  it('reads a bracketed team tag or a commit type as a label, and what follows as the work', () => {
    expect(routeOf('docs(api): the new endpoints')).toBe('documentation_writer');
    expect(routeOf('[BE] Add caching headers to GET /api/v2/products (FastAPI)')).toBe(
      'performance_optimizer',
    );
  });

  it('expands the abbreviations of tags and commit types ("[Infra]", "perf:")', () => {
    expect(routeOf('[Infra] queues and the dead-letter queue for the importer')).toBe('devops_engineer');
  });

  it('does not read an HTTP method before a path as the name of a vendor', () => {
    expect(routeOf('Return 404 from DELETE /api/users/{id} when the user is gone')).toBe(
      'python_backend_coder',
    );
  });

  it('does not take the work from the persona of a user story', () => {
    expect(routeOf('As a security engineer, I want the audit log page to be filterable by user')).toBe(
      'typescript_frontend_agent',
    );
    expect(routeOf('As a release manager I want a page listing every deploy with its commit')).toBe(
      'typescript_frontend_agent',
    );
  });

  it('reads a request after a comma in a report as the work, and a subject as no request', () => {
    expect(routeOf('The login form accepts any redirect URL, audit the auth flow')).toBe('security_auditor');
    expect(routeOf('Why is the orders query slow? EXPLAIN shows a sequential scan')).toBe(
      'performance_optimizer',
    );
  });

  it('does not read a segment of a path as the interface of a vendor', () => {
    const path = extractRequirements({ id: 't', description: 'Check the IDOR on /api/orders/{id}' }, catalog);

    expect(path.skills).not.toContain('third-party api');
    expect(targetRole(path)).toBe('security_auditor');
  });

  it('reads an upper-case name given a value, or read as $NAME, as an environment variable', () => {
    expect(routeOf('set FEATURE_NEW_NAV=true for the beta tenants only')).toBe('configuration_manager');
    expect(routeOf('read $STRIPE_KEY in the worker')).toBe('configuration_manager');
    // An error code is not one.
    expect(routeOf('ERR_SOCKET_TIMEOUT when calling the geocoder, add a retry')).toBe('error_handler');
  });

  it('takes the work from an imperative that follows a request put as a question', () => {
    expect(
      routeOf('Can we split the user service into auth and profile services? Write up the trade-offs'),
    ).toBe('system_architect');
  });

  it('counts what an inspection looks for as what the work is about', () => {
    expect(routeOf('Check the upload handler for path traversal')).toBe('security_auditor');
  });
});

describe('extractRequirements: the sense of an ambiguous word', () => {
  const candidates = (description: string) =>
    extractRequirements({ id: 't', description }, catalog).roleCandidates.map((c) => c.role);

  it('gives an ambiguous word the roles of the sense its neighbours signal', () => {
    // "migration" of a schema or of a platform.
    expect(candidates('Write the migration that adds a nullable column')).toContain('database_designer');
    expect(candidates('Plan the cloud migration of our VMs to AWS')).not.toContain('database_designer');
    expect(candidates('Plan the cloud migration of our VMs to AWS')).toContain('devops_engineer');
    // "table" of a database, of a page, of a report.
    expect(topRole('Show the invoices table on the dashboard page with sticky headers')).toBe(
      'typescript_frontend_agent',
    );
    expect(candidates('Retention table by signup month from the cohort data')).not.toContain(
      'database_designer',
    );
    // "leak" of memory or of secrets.
    expect(topRole('Find the leak that makes the worker heap grow all day')).toBe('performance_optimizer');
    expect(topRole('Look for the leak of API tokens in the logs')).toBe('security_auditor');
  });

  it('reads the sense from up to eight words away, across a sentence end', () => {
    expect(topRole('The worker heap keeps doubling every night; find that leak')).toBe(
      'performance_optimizer',
    );
  });

  it.each([
    ['Audit the mobile app for WCAG issues', 'ui_ux_designer'],
    ['Review the architecture of the billing system before we scale it', 'system_architect'],
    ['Test the upload flow across the three services', 'integration_tester'],
    ['Build a dashboard of signups and revenue per week for the sales team', 'data_analyst'],
    ['Design the flow of events between the billing and shipping services', 'system_architect'],
    ['Find every secret that was committed last year', 'security_auditor'],
    ['Plan the dashboard for the tablet app', 'ui_ux_designer'],
  ])(
    'reads the kind of work a verb or a word of several kinds names from its neighbours: "%s"',
    (description, role) => {
      expect(routeOf(description)).toBe(role);
    },
  );

  it('gives a security word to the back end when the work builds the feature, to the auditor when it checks it', () => {
    expect(routeOf('As an admin I want to reset passwords')).toBe('python_backend_coder');
    expect(routeOf('As a support lead, I want to revoke a JWT when a laptop is lost')).toBe(
      'python_backend_coder',
    );
    expect(routeOf('Check the password reset flow for account enumeration')).toBe('security_auditor');
    expect(routeOf('Assess how the JWT is stored and whether it leaks')).toBe('security_auditor');
  });

  it("lets the request's main verb decide the sense of a word before its neighbours are counted", () => {
    // Neighbours of the building sense ("expiry", "refresh"), an inspection verb: an audit.
    expect(routeOf('Check the JWT expiry and refresh')).toBe('security_auditor');
    // Neighbours of the auditing sense ("audit", "plaintext", "weak", "pentest"), a building verb: the feature.
    expect(routeOf('Add password hashing where the audit found plaintext and weak risks')).toBe(
      'python_backend_coder',
    );
    expect(routeOf('Implement the RBAC the auditors asked for after the pentest')).toBe(
      'python_backend_coder',
    );
  });

  it('does not route a description to QA for the tracker kind its heading names', () => {
    expect(routeOf('Bug: the CSV export endpoint ignores the page size')).toBe('python_backend_coder');
    expect(routeOf('Ticket: pagination for the invoices endpoint')).toBe('python_backend_coder');
  });

  it('keeps the roles the vocabulary gives a word when no sense, or two equally, are signalled', () => {
    expect(candidates('Review the table')).toContain('database_designer');
    expect(candidates('Move the table from the cloud to the schema')).toContain('database_designer');
  });
});

describe('extractRequirements: vocabulary of current practice', () => {
  it.each([
    ['Generate an SBOM for the release images', 'devops_engineer'],
    ['Tighten the CSP of the admin app', 'security_auditor'],
    ['Quarantine the flaky checkout test', 'integration_tester'],
    ['Add a kill switch for the new importer', 'configuration_manager'],
    ['Sequelize models for orders and line items', 'database_designer'],
    ['Second pair of eyes on my branch please', 'code_reviewer'],
    ['Write the Zendesk connector', 'api_integrator'],
    ['Scale the EKS node pool for the batch jobs', 'devops_engineer'],
    ["What's new post for the 3.0 launch", 'technical_writer'],
    ['The preview pane sets innerHTML from user text, is that safe?', 'security_auditor'],
    ['Make the upload limit changeable without a redeploy', 'configuration_manager'],
  ])('routes "%s" to %s', (description, role) => {
    expect(routeOf(description)).toBe(role);
  });
});

describe('extractRequirements: requirement lists and confidences', () => {
  it('infers languages, frameworks and skills from the description', () => {
    const requirements = extractRequirements(
      { id: 't', description: 'Add a FastAPI endpoint in Python with pydantic validation' },
      catalog,
    );

    expect(requirements.languages).toEqual(['python']);
    expect(requirements.frameworks).toEqual(['fastapi', 'pydantic']);
    expect(requirements.skills).toContain('endpoint');
  });

  it('recognises languages that no built-in role specialises in', () => {
    const requirements = extractRequirements(
      { id: 't', description: 'Review the Go code and the Kotlin client' },
      catalog,
    );

    expect(requirements.languages).toEqual(['go', 'kotlin']);
  });

  it('sorts candidates best first with confidences in [0, 1]', () => {
    const { roleCandidates } = extractRequirements(
      {
        id: 't',
        description: 'Write unit tests and integration tests, then review the PR and document the API',
      },
      catalog,
    );

    expect(roleCandidates.length).toBeGreaterThan(2);
    for (let i = 0; i < roleCandidates.length; i++) {
      const c = roleCandidates[i];
      expect(c?.confidence).toBeGreaterThan(0);
      expect(c?.confidence).toBeLessThanOrEqual(1);
      if (i > 0) expect(c?.confidence).toBeLessThanOrEqual(roleCandidates[i - 1]?.confidence ?? 1);
    }
  });

  it('is more confident when there is more evidence', () => {
    const weak = extractRequirements({ id: 't', description: 'Look at the alarm' }, catalog);
    const strong = extractRequirements(
      { id: 't', description: 'Set up CloudWatch alarms, a Grafana dashboard and tracing for monitoring' },
      catalog,
    );

    expect(strong.roleCandidates[0]?.confidence).toBeGreaterThan(weak.roleCandidates[0]?.confidence ?? 1);
  });

  it('is deterministic', () => {
    const task = { id: 't', description: 'Refactor the legacy billing module and add tests' };

    expect(extractRequirements(task, catalog)).toEqual(extractRequirements(task, catalog));
  });

  it('lets an explicit role win with confidence 1', () => {
    const requirements = extractRequirements(
      { id: 't', description: 'Write unit tests for the parser', role: 'code_reviewer' },
      catalog,
    );

    expect(requirements.explicitRole).toBe('code_reviewer');
    expect(requirements.roleCandidates).toEqual([{ role: 'code_reviewer', confidence: 1 }]);
    expect(targetRole(requirements)).toBe('code_reviewer');
  });

  it('lets explicit requirements replace the inferred lists and count as evidence', () => {
    const requirements = extractRequirements(
      {
        id: 't',
        description: 'Handle the new customer form',
        requirements: { languages: ['TypeScript'], frameworks: ['React'] },
      },
      catalog,
    );

    expect(requirements.languages).toEqual(['typescript']);
    expect(requirements.frameworks).toEqual(['react']);
    expect(requirements.skills).toEqual([]);
    expect(requirements.roleCandidates[0]?.role).toBe('typescript_frontend_agent');
  });

  it('falls back to the reasoning agent when nothing matches', () => {
    const requirements = extractRequirements({ id: 't', description: 'Lorem ipsum dolor sit amet' }, catalog);

    expect(requirements.roleCandidates).toEqual([]);
    expect(targetRole(requirements)).toBe(FALLBACK_ROLE);
    expect(routeOf('Lorem ipsum dolor sit amet')).toBe('hrm_reasoning_agent');
  });
});

describe('estimateComplexity', () => {
  it('rates a short, small task low', () => {
    expect(estimateComplexity('Fix a small typo in the README', 0)).toBe('low');
  });

  it('rates an ordinary task medium', () => {
    expect(
      estimateComplexity('Add a FastAPI endpoint that returns the order history for a customer', 1),
    ).toBe('medium');
  });

  it('rates a distributed migration across many components high', () => {
    expect(
      estimateComplexity(
        'Plan the migration of the entire billing platform to a distributed event-driven design across Kafka, Postgres and Redis',
        3,
      ),
    ).toBe('high');
  });

  it('rates a long specification higher than its first sentence', () => {
    const sentence = 'Build the reporting page with filters, charts and an export button for each widget. ';

    expect(estimateComplexity(sentence, 1)).not.toBe('high');
    expect(estimateComplexity(sentence.repeat(6), 1)).toBe('high');
  });

  it('is reported in the extracted requirements', () => {
    const requirements = extractRequirements({ id: 't', description: 'Rename one variable' }, catalog);

    expect(requirements.complexity).toBe('low');
  });
});
