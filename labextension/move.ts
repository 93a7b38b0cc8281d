import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IRunList, requestAPI } from './api';
import { KernelJsonRunner, KernelRunner } from './components/SnapshotsView';
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

/** What `%lift move ssh:NAME --no-switch --json` returns (`nblift.move.to_host.MoveResult`). */
interface IMoveResult {
  moved: boolean;
  message: string;
  kernel_id: string | null;
}

/** How the Move dialogs reach the notebook's kernel and session. */
export interface IMoveDoors {
  /** Runs a command in the notebook's kernel; what it printed. */
  run: KernelRunner;
  /** Runs a `--json` command in the notebook's kernel; the JSON it displayed. */
  runJson: KernelJsonRunner;
  /** Switches the notebook's session to the kernel with this id. */
  switchTo: (kernelId: string) => Promise<void>;
  /** Reads the kernel specs again (a move writes the host's). */
  specsChanged: () => Promise<void>;
  /** The kernel at home that restored the moved kernel's state, once there is one (the server's status). */
  homeKernel: () => Promise<string | null>;
}

/** How long Move back waits for home to restore the session (the server switches it itself after). */
const HOME_TIMEOUT_MS = 120000;

/** The kernel at home that restored the state, asked until there is one (null: none in time). */
async function waitForHome(doors: IMoveDoors): Promise<string | null> {
  const deadline = Date.now() + HOME_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const home = await doors.homeKernel();
    if (home) {
      return home;
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  return null;
}

/**
 * "Move to…": choose an SSH target, see the plan Python makes (`%lift move ssh:NAME --plan`), then move
 * (`%lift move ssh:NAME --no-switch --json`) and switch the tab's session to the kernel the move started on
 * the host, so that the tab follows the change as when a user picks a kernel. On a moved kernel, "Move
 * back" (`%lift move back --no-switch`: the server restores the state in a kernel at home, which the
 * status names; the tab then switches to it). Python does the work and says what happened; this only
 * sends the commands and shows what they said.
 */
export async function moveSession(
  notebook: string,
  kernelName: string | null,
  doors: IMoveDoors
): Promise<void> {
  try {
    if (isMovedKernel(kernelName)) {
      // home restores the state in a kernel there; the tab switches its own session to it
      const said = await doors.run('%lift move back --no-switch');
      const home = await waitForHome(doors);
      if (home) {
        await doors.switchTo(home);
      }
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
    const plan = await doors.run(`%lift move ${chosen.value} --plan`);
    const go = await showDialog({
      title: `Move to ${chosen.value}?`,
      body: textBody(plan.trim()),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Move' })]
    });
    if (!go.button.accept) {
      return;
    }
    const result = (await doors.runJson(
      `%lift move ${chosen.value} --no-switch --json`
    )) as IMoveResult;
    if (result.moved && result.kernel_id) {
      // the move wrote the host's kernel spec: read the specs again, so the tab shows its display name
      await doors.specsChanged();
      await doors.switchTo(result.kernel_id);
    }
    await showDialog({
      title: result.moved
        ? `Moved to ${chosen.value}`
        : `Not moved to ${chosen.value}`,
      body: textBody(result.message),
      buttons: [Dialog.okButton()]
    });
  } catch (error) {
    void showErrorMessage('Cannot move the session', describeError(error));
  }
}
