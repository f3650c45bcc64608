/**
 * Headless Chromium from Debian's package (/usr/bin/chromium), driven by playwright-core: nothing downloads
 * a browser. Each launch gets a fresh profile directory, removed on close. The flags keep Chromium off the
 * network it would otherwise call at start (this machine has none).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { WEB_ROOT } from '../../shared/local/static-files';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium with a new profile; throws with the install command when it is missing. */
export async function launchChromium(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'meta-agent-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport,
    });
    return {
      context,
      close: async () => {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}

/** Builds the dashboard when this checkout has not (npm install does it; a bare clone may not have). */
export async function ensureDashboardBuilt(): Promise<void> {
  if (existsSync(join(WEB_ROOT, 'index.html'))) return;
  const { build } = await import('vite');
  await build({ configFile: join(WEB_ROOT, '..', '..', 'web', 'vite.config.ts') });
}
