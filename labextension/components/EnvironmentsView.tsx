import * as React from 'react';

import { NbliftAPIError, requestAPI } from '../api';
import { IdRow, Message, useReveal } from './common';
import { PanelModel, useModel } from './model';
import { WorkState } from './WorkState';

export interface IEnvChange {
  severity: 'error' | 'warning' | 'info';
  kind: string;
  name: string;
  a: string | null;
  b: string | null;
  message: string;
}

export interface IEnvDiff {
  a: string;
  b: string;
  changes: IEnvChange[];
  unchanged: number;
  failed: boolean;
}

export interface IKernelEnv {
  python: string;
  platform: string;
  distro: string | null;
  cuda: string | null;
  driver: string | null;
  packages: Record<string, string>;
}

export interface IFinding {
  severity: 'error' | 'warning' | 'info';
  check: string;
  message: string;
  cell: number | null;
  hint: string | null;
}

export interface ILock {
  path: string;
  platform: string | null;
  python: string | null;
  cuda: string | null;
  packages: Record<string, string>;
}

/** The id of the current notebook's running kernel, or null. */
export type KernelIdGetter = () => string | null;

/** State of the Environments view: the kernel's environment, the lock, drift, preflight. */
export class EnvironmentsModel extends PanelModel {
  set kernelId(getter: KernelIdGetter | null) {
    this._kernelId = getter;
  }
  get canRun(): boolean {
    return this._kernelId !== null;
  }

  get path(): string {
    return this._path;
  }
  set path(value: string) {
    this._path = value;
    this._kernel = null;
    this._drift = null;
    this._findings = null;
  }

  get kernel(): IKernelEnv | null {
    return this._kernel;
  }
  get lock(): ILock | null {
    return this._lock;
  }
  get drift(): IEnvDiff | null {
    return this._drift;
  }
  get findings(): IFinding[] | null {
    return this._findings;
  }
  get compared(): IEnvDiff | null {
    return this._compared;
  }
  get message(): string | null {
    return this._message;
  }
  /** The lock a model's lineage asked to see. */
  get shownLock(): string | null {
    return this._shownLock;
  }
  /** Counts the requests to bring the view into sight. */
  get revealed(): number {
    return this._revealed;
  }

  /** Bring the view into sight naming `lock` (the environment a model version was made in). */
  async reveal(lock: string): Promise<void> {
    this._shownLock = lock;
    this._revealed += 1;
    this.emit();
    if (this._lock === null && this._kernel === null && this.busy === null) {
      await this.refresh();
    }
  }

  /** Read the lock, preflight, and the kernel's environment with its drift against the lock (all from the
   * server: it reads the kernel's environment in the kernel's interpreter, never through its output). */
  async refresh(): Promise<void> {
    await this.work('Reading the environment', async () => {
      this._lock = await this._optional(() =>
        requestAPI<ILock>('env/lock', {}, this._query())
      );
      if (this._path.endsWith('.ipynb')) {
        const reply = await requestAPI<{ findings: IFinding[] }>(
          'env/preflight',
          {},
          { path: this._path }
        );
        this._findings = reply.findings;
      }
      const kernel = this._kernelId?.() ?? null;
      if (kernel) {
        const reply = await requestAPI<{
          show: IKernelEnv;
          diff: IEnvDiff | null;
        }>('env/kernel', {}, { ...this._query(), kernel });
        this._kernel = reply.show;
        this._drift = reply.diff;
      }
    });
  }

  /** Read only after a cell ran (reading the kernel's environment starts its interpreter), not on a timer. */
  readonly timed = false;

  /**
   * Read the kernel's environment and its drift again, quietly, once the view has shown them (a
   * `%pip install` in a cell shows up as drift); whether they changed.
   */
  async poll(): Promise<boolean> {
    const kernel = this._kernelId?.() ?? null;
    if (!kernel || this._kernel === null || this.busy !== null) {
      return false;
    }
    const path = this._path;
    const reply = await requestAPI<{ show: IKernelEnv; diff: IEnvDiff | null }>(
      'env/kernel',
      {},
      { ...this._query(), kernel }
    );
    const before = JSON.stringify([this._kernel, this._drift]);
    if (
      path !== this._path ||
      this.busy !== null ||
      JSON.stringify([reply.show, reply.diff]) === before
    ) {
      return false;
    }
    this._kernel = reply.show;
    this._drift = reply.diff;
    this.emit();
    return true;
  }

  /** Lock the kernel's environment (the server runs `pin` for the kernel's interpreter), then look again. */
  async pin(): Promise<void> {
    const kernel = this._kernelId?.() ?? null;
    if (!kernel) {
      this.fail('Open a notebook with a running kernel first.');
      return;
    }
    let pinned = false;
    await this.work('Pinning the environment', async () => {
      const reply = await requestAPI<{ message: string }>(
        'env/pin',
        { method: 'POST', body: JSON.stringify({ kernel }) },
        this._query()
      );
      this._message = reply.message;
      pinned = true;
    });
    if (pinned) {
      await this.refresh(); // a failed pin keeps its error on screen
    }
  }

  /** Drift between two recorded environments (`lock` or snapshot ids). */
  async compare(a: string, b: string): Promise<void> {
    await this.work('Comparing', async () => {
      const reply = await requestAPI<{ diff: IEnvDiff }>(
        'env/diff',
        {},
        { ...this._query(), a, b }
      );
      this._compared = reply.diff;
    });
  }

  private async _optional<T>(call: () => Promise<T>): Promise<T | null> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof NbliftAPIError && error.status === 404) {
        return null; // no lock yet
      }
      throw error;
    }
  }

  private _query(): Record<string, string> {
    return this._path ? { path: this._path } : {};
  }

  private _kernelId: KernelIdGetter | null = null;
  private _path = '';
  private _kernel: IKernelEnv | null = null;
  private _lock: ILock | null = null;
  private _drift: IEnvDiff | null = null;
  private _findings: IFinding[] | null = null;
  private _compared: IEnvDiff | null = null;
  private _message: string | null = null;
  private _shownLock: string | null = null;
  private _revealed = 0;
}

function ChangeList(props: { diff: IEnvDiff; label: string }): JSX.Element {
  const { diff, label } = props;
  if (diff.changes.length === 0) {
    return (
      <p className="jp-nblift-muted" aria-label={label}>
        No drift: {diff.unchanged} packages match.
      </p>
    );
  }
  return (
    <ul className="jp-nblift-drift" aria-label={label}>
      {diff.changes.map((c, i) => (
        <li key={i} className={`jp-nblift-severity-${c.severity}`}>
          <strong>{c.severity}</strong> {c.message}
        </li>
      ))}
    </ul>
  );
}

/** The Environments view of the nblift sidebar. */
export function EnvironmentsView(props: {
  model: EnvironmentsModel;
  snapshotIds: string[];
}): JSX.Element {
  const { model, snapshotIds } = props;
  useModel(model);
  const [a, setA] = React.useState('lock');
  const [b, setB] = React.useState('');
  const busy = model.busy !== null;
  const sides = ['lock', ...snapshotIds];
  const kernel = model.kernel;
  const lock = model.lock;
  const section = useReveal<HTMLElement>(model.revealed);
  return (
    <section
      ref={section}
      className="jp-nblift-environments"
      aria-label="environments"
    >
      <h3 className="jp-nblift-subtitle">Environment</h3>
      <WorkState model={model} />
      <table className="jp-nblift-table" aria-label="environment">
        <tbody>
          <tr>
            <th scope="row">Kernel</th>
            <td data-testid="nblift-env-kernel">
              {kernel
                ? `Python ${kernel.python} on ${kernel.platform}, ` +
                  `${Object.keys(kernel.packages).length} packages` +
                  (kernel.cuda ? `, CUDA ${kernel.cuda}` : '')
                : model.canRun
                  ? 'not read yet'
                  : 'open a notebook to see its kernel'}
            </td>
          </tr>
          <tr>
            <th scope="row">Lock</th>
            <td data-testid="nblift-env-lock">
              {lock
                ? `${Object.keys(lock.packages).length} packages for ` +
                  `${lock.platform ?? '?'}, Python ${lock.python ?? '?'}` +
                  (lock.cuda ? `, CUDA ${lock.cuda}` : '')
                : 'none yet: Pin makes one'}
            </td>
          </tr>
          {model.shownLock ? (
            <IdRow
              label="Model's lock"
              id={model.shownLock}
              what="environment lock id"
            />
          ) : null}
        </tbody>
      </table>
      {model.drift ? (
        <ChangeList diff={model.drift} label="drift between kernel and lock" />
      ) : null}
      <Message text={model.message} testId="nblift-env-message" />
      <div className="jp-nblift-actions">
        <button
          className="jp-mod-styled"
          disabled={busy}
          onClick={() => void model.refresh()}
        >
          Check environment
        </button>
        <button
          className="jp-mod-styled jp-mod-accept"
          disabled={busy || !model.canRun}
          onClick={() => void model.pin()}
        >
          Pin
        </button>
      </div>
      {model.findings ? (
        <>
          <h4 className="jp-nblift-subtitle">Preflight</h4>
          {model.findings.length === 0 ? (
            <p className="jp-nblift-muted">Nothing blocks a push.</p>
          ) : (
            <ul className="jp-nblift-drift" aria-label="preflight findings">
              {model.findings.map((f, i) => (
                <li key={i} className={`jp-nblift-severity-${f.severity}`}>
                  <strong>{f.severity}</strong> {f.check}
                  {f.cell !== null ? ` (cell ${f.cell + 1})` : ''}: {f.message}
                  {f.hint ? (
                    <div className="jp-nblift-muted">{f.hint}</div>
                  ) : null}
                </li>
              ))}
            </ul>
          )}
        </>
      ) : null}
      <h4 className="jp-nblift-subtitle">Compare recorded environments</h4>
      <div className="jp-nblift-actions">
        <select
          aria-label="first environment"
          value={a}
          onChange={e => setA(e.target.value)}
        >
          {sides.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <select
          aria-label="second environment"
          value={b}
          onChange={e => setB(e.target.value)}
        >
          <option value="">choose…</option>
          {sides.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <button
          className="jp-mod-styled"
          disabled={busy || !b}
          onClick={() => void model.compare(a, b)}
        >
          Compare
        </button>
      </div>
      {model.compared ? (
        <ChangeList diff={model.compared} label="environment comparison" />
      ) : null}
    </section>
  );
}
