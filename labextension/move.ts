import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IRunList, requestAPI } from './api';
import { KernelRunner } from './components/SnapshotsView';
import { describeError } from './components/model';

/** The kernel specs a move writes start with this (`nblift.move.to_host.SPEC_PREFIX`). */
export const MOVED_SPEC_PREFIX = 'nblift-ssh-';

/** Whether a notebook's kernel is one nblift moved to a host (its spec names the ssh provisioner). */
export function isMovedKernel(kernelName: string | null | undefined): boolean {
  return !!kernelName && kernelName.startsWith(MOVED_SPEC_PREFIX);
}

function textBody(text: string): Widget {
  const body = new Widget();
  const pre = document.createElement('pre');
  pre.className = 'jp-nblift-move-text';
  pre.textContent = text;
  body.node.appendChild(pre);
  return body;
}

function targetBody(targets: string[], hint: string | null): Widget {
  const body = new Widget();
  const label = document.createElement('label');
  label.textContent = 'Move this session to ';
  const select = document.createElement('select');
  select.className = 'jp-mod-styled';
  select.setAttribute('aria-label', 'SSH target');
  for (const name of targets) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name;
    select.appendChild(option);
  }
  label.appendChild(select);
  body.node.appendChild(label);
  if (hint) {
    const note = document.createElement('p');
    note.textContent = hint;
    body.node.appendChild(note);
  }
  (body as Widget & { getValue: () => string }).getValue = () => select.value;
  return body;
}

/**
 * "Move to…": choose an SSH target, see the plan Python makes (`%lift move ssh:NAME --plan`), then move
 * (`%lift move ssh:NAME`). On a moved kernel, "Move back" (`%lift move back`). The kernel does the work
 * and the switch of the session; this only sends the command and shows what it said.
 */
export async function moveSession(
  notebook: string,
  kernelName: string | null,
  run: KernelRunner,
  specsChanged: () => Promise<void> = async () => undefined
): Promise<void> {
  try {
    if (isMovedKernel(kernelName)) {
      const said = await run('%lift move back');
      await showDialog({
        title: 'Moving back',
        body: textBody(said.trim()),
        buttons: [Dialog.okButton()]
      });
      return;
    }
    const list = await requestAPI<IRunList>('runs', {}, { path: notebook });
    const ssh = list.backends.filter(
      b => b.name.startsWith('ssh:') && b.launchable
    );
    if (ssh.length === 0) {
      const setup = list.backends.find(b => b.name === 'ssh')?.setup ?? null;
      await showDialog({
        title: 'No SSH host to move to',
        body: textBody(
          setup ??
            'add a [tool.nblift.ssh_hosts.NAME] table to the project’s pyproject.toml'
        ),
        buttons: [Dialog.okButton()]
      });
      return;
    }
    const chosen = await showDialog<string>({
      title: 'Move this session to…',
      body: targetBody(
        ssh.map(b => b.name),
        'Its variables, files and environment go to the host; the notebook goes on there.'
      ),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Plan' })]
    });
    if (!chosen.button.accept || !chosen.value) {
      return;
    }
    const plan = await run(`%lift move ${chosen.value} --plan`);
    const go = await showDialog({
      title: `Move to ${chosen.value}?`,
      body: textBody(plan.trim()),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Move' })]
    });
    if (!go.button.accept) {
      return;
    }
    const said = await run(`%lift move ${chosen.value}`);
    // the move wrote the host's kernel spec: read the specs again, so the tab shows its display name
    await specsChanged();
    await showDialog({
      title: `Moving to ${chosen.value}`,
      body: textBody(said.trim()),
      buttons: [Dialog.okButton()]
    });
  } catch (error) {
    void showErrorMessage('Cannot move the session', describeError(error));
  }
}
