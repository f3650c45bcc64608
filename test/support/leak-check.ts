/**
 * Vitest global setup: the run fails when it leaves CDK cloud assemblies (`cdk.out*`) in the system temp
 * directory. A CDK App made without `outdir` creates one at synthesis and never removes it; tests make their
 * apps through test/support/cdk-app.ts instead. Only names that appeared during this run count.
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';

const LEAK_PREFIX = 'cdk.out';

function assemblies(): Set<string> {
  return new Set(readdirSync(tmpdir()).filter((name) => name.startsWith(LEAK_PREFIX)));
}

export default function setup(): () => void {
  const before = assemblies();
  return () => {
    const left = [...assemblies()].filter((name) => !before.has(name));
    if (left.length > 0)
      throw new Error(
        `tests left ${left.length} CDK assembly folder(s) in ${tmpdir()}: ${left.join(', ')}; make apps with testApp() (test/support/cdk-app.ts)`,
      );
  };
}
