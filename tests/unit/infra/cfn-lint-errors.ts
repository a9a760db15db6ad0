/**
 * cfn-lint (a Python tool) over one template, for construct tests on small stacks: the errors it reports,
 * as "<rule> <message>". `cfnLintInstalled` lets a test skip, saying so, where cfn-lint is missing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const cfnLintInstalled = spawnSync('cfn-lint', ['--version']).error === undefined;

export function cfnLintErrors(template: unknown, region = 'eu-west-1'): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cfn-lint-'));
  const file = join(dir, 'template.json');
  writeFileSync(file, JSON.stringify(template));
  // The template first: --regions takes every argument after it.
  const run = spawnSync('cfn-lint', [file, '--format', 'json', '--regions', region], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  // Exit status: bit 2 errors, 4 warnings, 8 informational; anything else means cfn-lint did not lint.
  if (((run.status ?? -1) & ~(2 | 4 | 8)) !== 0 || run.stderr !== '') {
    throw new Error(`cfn-lint failed to run (status ${run.status}): ${run.stderr}`);
  }
  const results = JSON.parse(run.stdout || '[]') as { Level: string; Rule: { Id: string }; Message: string }[];
  return results.filter((result) => result.Level === 'Error').map((result) => `${result.Rule.Id} ${result.Message}`);
}
