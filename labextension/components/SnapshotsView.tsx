import * as React from 'react';

import { ISnapshot, ISnapshotDiff, requestAPI } from '../api';
import { Message, useReveal } from './common';
import { formatBytes } from './format';
import { ProjectModel, useModel } from './model';
import { confirmRestore, IRestorePlan, restorePlan } from './restoreConfirm';
import { WorkState } from './WorkState';

/** Runs code in the current notebook's kernel and resolves with what it printed. */
export type KernelRunner = (code: string) => Promise<string>;
/** Runs a `%lift ... --json` command in the notebook's kernel; the JSON it displayed. */
export type KernelJsonRunner = (code: string) => Promise<unknown>;

/** State of the Snapshots view for the current notebook. */
export class SnapshotsModel extends ProjectModel {
  constructor(private _runInKernel: KernelRunner | null = null) {
    super();
  }

  set runner(runner: KernelRunner | null) {
    this._runInKernel = runner;
  }

  protected pathChanged(): void {
    this._selected = [];
    this._diff = null;
    super.pathChanged();
  }

  get snapshots(): ISnapshot[] {
    return this._snapshots;
  }
  get selected(): string[] {
    return this._selected;
  }
  get diff(): ISnapshotDiff | null {
    return this._diff;
  }
  get message(): string | null {
    return this._message;
  }
  get canRun(): boolean {
    return this._runInKernel !== null;
  }

  /** The snapshot a model's lineage asked to see (marked in the list). */
  get shown(): string | null {
    return this._shown;
  }
  /** Counts the requests to bring the shown snapshot into sight. */
  get revealed(): number {
    return this._revealed;
  }

  /** Mark a snapshot of this project in the list and bring it into sight. */
  async reveal(id: string): Promise<void> {
    const found = await this.listed(
      () => this._snapshots.some(s => s.id === id),
      `snapshot ${id} is not in this project's store`
    );
    if (found) {
      this._shown = id;
      this._revealed += 1;
      this.emit();
    }
  }

  toggle(id: string): void {
    this._selected = this._selected.includes(id)
      ? this._selected.filter(s => s !== id)
      : [...this._selected, id].slice(-2);
    this._diff = null;
    this.emit();
  }

  /** Read on the follower's timer too (a snapshot is cheap to list). */
  readonly timed = true;

  /** Read the list again quietly (a snapshot taken with `%lift snapshot` shows up); whether it changed. */
  async poll(): Promise<boolean> {
    const path = this.path;
    const reply = await requestAPI<{ snapshots: ISnapshot[] }>(
      'snapshots',
      {},
      this.query()
    );
    if (
      path !== this.path ||
      JSON.stringify(reply.snapshots) === JSON.stringify(this._snapshots)
    ) {
      return false;
    }
    this._snapshots = reply.snapshots;
    this.emit();
    return true;
  }

  async refresh(): Promise<void> {
    await this._work(null, async () => {
      const reply = await requestAPI<{ snapshots: ISnapshot[] }>(
        'snapshots',
        {},
        this.query()
      );
      this._snapshots = reply.snapshots;
    });
  }

  async compare(): Promise<void> {
    if (this._selected.length !== 2) {
      return;
    }
    const byTime = [...this._selected].sort(
      (x, y) => this._created(x) - this._created(y)
    );
    await this._work('Comparing', async () => {
      this._diff = await requestAPI<ISnapshotDiff>(
        'snapshots/diff',
        {},
        {
          ...this.query(),
          a: byTime[0],
          b: byTime[1]
        }
      );
    });
  }

  async snapshot(): Promise<void> {
    await this._kernel(
      'Taking a snapshot',
      '%lift snapshot --wait -m "from the sidebar"'
    );
    await this.refresh();
  }

  /** Restore snapshot `id` into the kernel, after asking when it would overwrite live variables. */
  async restore(id: string): Promise<void> {
    const run = this._runInKernel;
    if (!run) {
      this.fail('Open a notebook with a running kernel first.');
      return;
    }
    const asked: { plan?: IRestorePlan } = {};
    await this._work(`Checking what restoring ${id} overwrites`, async () => {
      asked.plan = await restorePlan(run, id);
    });
    if (!asked.plan || !(await confirmRestore(asked.plan))) {
      return;
    }
    await this._kernel(`Restoring ${id}`, `%lift restore ${id}`);
  }

  async trust(id: string): Promise<void> {
    await this._work(`Trusting ${id}`, async () => {
      const reply = await requestAPI<{ message: string }>(
        `snapshots/${id}/trust`,
        { method: 'POST' },
        this.query()
      );
      this._message = reply.message;
    });
    await this.refresh();
  }

  private _created(id: string): number {
    return this._snapshots.find(s => s.id === id)?.created ?? 0;
  }

  private async _kernel(label: string, code: string): Promise<void> {
    if (!this._runInKernel) {
      this.fail('Open a notebook with a running kernel first.');
      return;
    }
    const run = this._runInKernel;
    await this._work(label, async () => {
      this._message = (await run(code)).trim();
    });
  }

  private async _work(
    label: string | null,
    work: () => Promise<void>
  ): Promise<void> {
    if (label) {
      this._message = null;
    }
    await this.work(label, work);
  }

  private _snapshots: ISnapshot[] = [];
  private _selected: string[] = [];
  private _diff: ISnapshotDiff | null = null;
  private _message: string | null = null;
  private _shown: string | null = null;
  private _revealed = 0;
}

function DiffView(props: { diff: ISnapshotDiff }): JSX.Element {
  // The server writes the lines (as `nblift diff` prints them); the panel only lays them out.
  const [header, ...lines] = props.diff.lines;
  return (
    <div className="jp-nblift-diff" aria-label="snapshot diff">
      <div className="jp-nblift-muted">{header}</div>
      <ul>
        {lines.map((line, i) => (
          <li key={i}>{line}</li>
        ))}
      </ul>
    </div>
  );
}

/** List, diff two, restore one; progress while the kernel works. */
export function SnapshotsView(props: { model: SnapshotsModel }): JSX.Element {
  const { model } = props;
  useModel(model);
  const shown = useReveal<HTMLLIElement>(model.revealed);
  const busy = model.busy !== null;
  return (
    <section className="jp-nblift-snapshots" aria-label="snapshots">
      <h3 className="jp-nblift-subtitle">Snapshots</h3>
      <WorkState model={model} />
      <Message text={model.message} testId="nblift-snapshot-message" />
      <div className="jp-nblift-actions">
        <button
          className="jp-mod-styled jp-mod-accept"
          disabled={busy || !model.canRun}
          onClick={() => void model.snapshot()}
        >
          Snapshot now
        </button>
        <button
          className="jp-mod-styled"
          disabled={busy || model.selected.length !== 2}
          onClick={() => void model.compare()}
        >
          Diff selected
        </button>
      </div>
      {model.snapshots.length === 0 ? (
        <p className="jp-nblift-muted">
          No snapshots yet: Snapshot now (or <code>%lift snapshot</code> in a
          cell) keeps this notebook&apos;s variables to restore later.
        </p>
      ) : (
        <ul className="jp-nblift-snapshot-list" aria-label="snapshot list">
          {model.snapshots.map(s => (
            <li
              key={s.id}
              data-testid={`nblift-snapshot-${s.id}`}
              ref={s.id === model.shown ? shown : undefined}
              aria-current={s.id === model.shown ? 'true' : undefined}
              className={s.id === model.shown ? 'jp-mod-selected' : undefined}
            >
              <label>
                <input
                  type="checkbox"
                  aria-label={`select ${s.id}`}
                  checked={model.selected.includes(s.id)}
                  onChange={() => model.toggle(s.id)}
                />
                <code>{s.id}</code>{' '}
                {new Date(s.created * 1000).toLocaleTimeString()}{' '}
                {s.message || (s.auto ? '(auto)' : '')}
              </label>
              <div className="jp-nblift-muted">
                {Object.keys(s.variables).length} variables,{' '}
                {formatBytes(s.size)}
                {s.warnings.length ? `, ${s.warnings.length} warnings` : ''}
              </div>
              <button
                className="jp-mod-styled"
                disabled={busy || !model.canRun}
                aria-label={`restore ${s.id}`}
                onClick={() => void model.restore(s.id)}
              >
                Restore
              </button>
              {s.trusted === false ? (
                <button
                  className="jp-mod-styled jp-mod-warn"
                  disabled={busy}
                  aria-label={`trust ${s.id}`}
                  onClick={() => void model.trust(s.id)}
                >
                  Trust
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {model.diff ? <DiffView diff={model.diff} /> : null}
    </section>
  );
}
