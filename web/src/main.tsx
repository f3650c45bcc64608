/**
 * The meta-agent dashboard: a client of the public REST and WebSocket APIs only. Routes live in the URL
 * fragment (`#/batches/b-1`), so the page is static files anywhere (meta-agent serve, S3 behind CloudFront).
 */
import { type JSX, render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, adoptKeyFromFragment, discoverApiUrl, forgetKey, storedKey, storeKey } from './api';
import { parseRoute, type Route } from './route';
import { AgentsView } from './views/agents';
import { BatchView } from './views/batch';
import { BatchesView } from './views/batches';
import { SubmitView } from './views/submit';
import { TaskView } from './views/task';

function useRoute(): Route {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parseRoute(hash);
}

function KeyForm(props: { onKey: (key: string) => void }): JSX.Element {
  const [key, setKey] = useState('');
  return (
    <section aria-labelledby="key-title" class="key-form">
      <h1 id="key-title">API key</h1>
      <p>
        The dashboard calls the API with its key. <code>meta-agent serve</code> prints a link that carries it;
        for a deployed stack, read it with <code>aws apigateway get-api-key --include-value</code>. It is kept
        for this tab only (session storage).
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) props.onKey(key.trim());
        }}
      >
        <label for="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          value={key}
          onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit">Use this key</button>
      </form>
    </section>
  );
}

function App(props: { apiUrl: string }): JSX.Element {
  const [key, setKey] = useState(storedKey());
  const route = useRoute();
  const api = useMemo(() => new Api(props.apiUrl, key), [props.apiUrl, key]);
  const nav = (target: Route['view'], label: string, link: string) => (
    <a href={link} aria-current={route.view === target ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">meta-agent</span>
        <nav aria-label="Main">
          {nav('batches', 'Batches', '#/')}
          {nav('agents', 'Agents', '#/agents')}
          {nav('submit', 'Submit', '#/submit')}
        </nav>
        <span class="spacer" />
        <span class="api-url" title="API">
          {props.apiUrl}
        </span>
        {key && (
          <button
            type="button"
            class="quiet"
            onClick={() => {
              forgetKey();
              setKey(undefined);
            }}
          >
            Forget key
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {!key ? (
          <KeyForm
            onKey={(k) => {
              storeKey(k);
              setKey(k);
            }}
          />
        ) : route.view === 'batch' ? (
          <BatchView api={api} batchId={route.batchId} />
        ) : route.view === 'task' ? (
          <TaskView api={api} batchId={route.batchId} taskId={route.taskId} />
        ) : route.view === 'agents' ? (
          <AgentsView api={api} />
        ) : route.view === 'submit' ? (
          <SubmitView api={api} />
        ) : (
          <BatchesView api={api} />
        )}
      </main>
    </>
  );
}

adoptKeyFromFragment();
const root = document.getElementById('app');
if (root) render(<App apiUrl={await discoverApiUrl()} />, root);
