import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import type { KernelRunner } from './SnapshotsView';

/** What restoring a snapshot would do in the kernel (`%lift restore ID --dry-run`: Python decides). */
export interface IRestorePlan {
  id: string;
  overwritten: string[];
  added: string[];
  skipped: string[];
}

/** The plan the kernel printed as JSON (after anything else it printed first). */
export function parsePlan(printed: string): IRestorePlan {
  const start = printed.search(/^\{/m);
  if (start < 0) {
    throw new Error(printed.trim() || 'the kernel did not answer');
  }
  return JSON.parse(printed.slice(start)) as IRestorePlan;
}

/** Ask the kernel what restoring `sid` would overwrite. */
export async function restorePlan(
  run: KernelRunner,
  sid: string
): Promise<IRestorePlan> {
  return parsePlan(await run(`%lift restore ${sid} --dry-run --json`));
}

/**
 * Ask before a restore overwrites live variables, naming them; true: go ahead. A restore that
 * overwrites nothing loses nothing, so it is not asked about.
 */
export async function confirmRestore(plan: IRestorePlan): Promise<boolean> {
  if (plan.overwritten.length === 0) {
    return true;
  }
  const answer = await showDialog({
    title: `Restore snapshot ${plan.id}?`,
    body: (
      <div className="jp-nblift-restore-confirm">
        <p>
          These variables in the kernel will be overwritten with the
          snapshot&apos;s values:
        </p>
        <ul aria-label="variables overwritten">
          {plan.overwritten.map(name => (
            <li key={name}>
              <code>{name}</code>
            </li>
          ))}
        </ul>
        {plan.added.length > 0 ? (
          <p className="jp-nblift-muted">Also added: {plan.added.join(', ')}</p>
        ) : null}
      </div>
    ),
    buttons: [
      Dialog.cancelButton(),
      Dialog.warnButton({ label: 'Overwrite and restore' })
    ],
    defaultButton: 0 // Enter keeps the kernel as it is
  });
  return answer.button.accept;
}
