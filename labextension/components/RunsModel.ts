import { PageConfig } from '@jupyterlab/coreutils';
import { Contents } from '@jupyterlab/services';

import {
  ILaunchTarget,
  IRun,
  IRunList,
  requestAPI,
  TERMINAL_STATES
} from '../api';
import { RunFeed } from '../runFeed';
import { IExpectedCell, RunTrace } from '../runTrace';
import { describeError, ProjectModel } from './model';

/** What the Runs view needs from the application. */
export interface IRunsHost {
  /** The contents API, to count a run's code cells in its notebook. */
  contents: Contents.IManager;
  /** Open a notebook in a notebook tab (path relative to the server root). */
  open(path: string): Promise<void>;
  /** Open the launch dialog for `notebook` (relative to the server root), filled in from `run`. */
  relaunch(notebook: string, run: IRun): Promise<void>;
}

/** How often the list refreshes while a run is in flight. */
const POLL_MS = 2000;

function inFlight(run: IRun): boolean {
  return !TERMINAL_STATES.has(run.state);
}

function firstLine(source: string | string[] | undefined): string {
  const text = Array.isArray(source) ? source.join('') : (source ?? '');
  const line = text.split('\n').find(l => l.trim() !== '') ?? '';
  return line.trim().slice(0, 80);
}

/** `folder` as a path relative to `root` (both absolute), or null when it is not inside. */
export function relativeTo(root: string, folder: string): string | null {
  const clean = (p: string): string =>
    p.replace(/\\/g, '/').replace(/\/+$/, '');
  const base = clean(root);
  const target = clean(folder);
  if (target === base) {
    return '';
  }
  return target.startsWith(`${base}/`) ? target.slice(base.length + 1) : null;
}

/**
 * Where a notebook named by a run's lineage is under the server root (its name is relative to the project, or
 * absolute), when it is there; else null (moved, deleted, or outside the server's root folder).
 */
export async function locateNotebook(
  contents: Contents.IManager,
  serverRoot: string,
  projectRoot: string | null,
  source: string | null
): Promise<string | null> {
  let path: string | null = null;
  if (source && serverRoot) {
    if (/^([A-Za-z]:)?[\\/]/.test(source)) {
      path = relativeTo(serverRoot, source);
    } else if (projectRoot) {
      const folder = relativeTo(serverRoot, projectRoot);
      path = folder === null ? null : folder ? `${folder}/${source}` : source;
    }
  }
  if (path === null) {
    return null;
  }
  try {
    await contents.get(path, { content: false });
    return path;
  } catch {
    return null;
  }
}

/** State of the Runs view: the project's runs, and the one selected followed live. */
export class RunsModel extends ProjectModel {
  constructor(
    private readonly _host: IRunsHost,
    private readonly _serverRoot: string = PageConfig.getOption('serverRoot')
  ) {
    super();
  }

  /** The project's folder (absolute, as the status reports it): locates run notebooks. */
  set projectRoot(value: string | null) {
    if (value !== this._projectRoot) {
      this._projectRoot = value;
      if (this._trace && this._trace.total === null) {
        void this._expectCells(this._trace);
      }
    }
  }

  get runs(): IRun[] {
    return this._runs;
  }
  get backends(): ILaunchTarget[] {
    return this._backends;
  }
  /** The selected run as its events tell it; null when none is selected. */
  get trace(): RunTrace | null {
    return this._trace;
  }
  /** Counts the requests to bring the view into sight (a launch from the toolbar). */
  get revealed(): number {
    return this._revealed;
  }

  /** The run's notebook relative to the server root; null when it is not under it (or not known yet). */
  notebookPath(run: IRun): string | null {
    if (!this._projectRoot || !this._serverRoot) {
      return null;
    }
    const folder = relativeTo(this._serverRoot, this._projectRoot);
    if (folder === null) {
      return null;
    }
    return folder ? `${folder}/${run.notebook}` : run.notebook;
  }

  async refresh(): Promise<void> {
    await this.work(null, () => this._load());
  }

  /** Read on the follower's timer too (the list is cheap to read). */
  readonly timed = true;

  /** Read the list again quietly (a run started with `%lift run` shows up); whether it changed. */
  async poll(): Promise<boolean> {
    if (this.busy !== null) {
      return false;
    }
    const before = JSON.stringify(this._runs);
    await this._load();
    const changed = JSON.stringify(this._runs) !== before;
    if (changed) {
      this.emit();
    }
    return changed;
  }

  select(id: string | null): void {
    if ((this._trace?.run.id ?? null) === id) {
      return;
    }
    this._feed?.stop();
    this._feed = null;
    this._trace = null;
    const run = this._runs.find(r => r.id === id);
    if (run) {
      this._follow(new RunTrace(run));
    }
    this.emit();
  }

  /** A run was just launched: list it, select it, bring the view into sight. */
  launched(run: IRun): void {
    this._runs = [run, ...this._runs.filter(r => r.id !== run.id)];
    this.select(run.id);
    this._revealed += 1;
    this.emit();
    this._schedule();
  }

  /** Select a run of this project by id and bring the view into sight (from a model's lineage). */
  async show(id: string): Promise<void> {
    const found = await this.listed(
      () => this._runs.some(r => r.id === id),
      `run ${id} is not among this project's runs`
    );
    if (found) {
      this.select(id);
      this._revealed += 1;
      this.emit();
    }
  }

  async cancel(): Promise<void> {
    const trace = this._trace;
    if (!trace) {
      return;
    }
    await this.work('Cancelling', async () => {
      const run = await requestAPI<IRun>(
        `runs/${trace.run.id}/cancel`,
        { method: 'POST' },
        this.query()
      );
      this._merge(run);
    });
  }

  /** Copy the executed notebook into the project (nblift-runs/<id>/) and open it in a notebook tab. */
  async openExecuted(): Promise<void> {
    const trace = this._trace;
    if (!trace) {
      return;
    }
    await this.work('Fetching the executed notebook', async () => {
      const reply = await requestAPI<{ path: string | null }>(
        `runs/${trace.run.id}/fetch`,
        { method: 'POST' },
        this.query()
      );
      if (reply.path === null) {
        throw new Error(
          "the run's outputs were copied outside the Jupyter server's root folder, " +
            'so they cannot be opened here; open them from the project folder'
        );
      }
      await this._host.open(reply.path);
    });
  }

  async rerun(): Promise<void> {
    const run = this._trace?.run;
    if (!run) {
      return;
    }
    const notebook = this.notebookPath(run);
    if (notebook === null) {
      this.fail(
        `cannot find ${run.notebook} under the Jupyter server's root folder: ` +
          'open the notebook and use Run on… in its toolbar'
      );
      return;
    }
    await this._host.relaunch(notebook, run);
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    this._feed?.stop();
  }

  private async _load(): Promise<void> {
    const reply = await requestAPI<IRunList>('runs', {}, this.query());
    this._runs = reply.runs;
    this._backends = reply.backends;
    const selected = this._trace;
    if (selected) {
      const run = reply.runs.find(r => r.id === selected.run.id);
      if (run) {
        selected.update(run);
      } else {
        this.select(null); // another project's run
      }
    }
    this._schedule();
  }

  /** Refresh again soon while something is in flight; stop otherwise. */
  private _schedule(): void {
    window.clearTimeout(this._timer);
    if (this._runs.some(inFlight)) {
      this._timer = window.setTimeout(() => void this._poll(), POLL_MS);
    }
  }

  private async _poll(): Promise<void> {
    try {
      await this._load();
    } catch (error) {
      this.fail(describeError(error));
      this._schedule();
      return;
    }
    this.emit();
  }

  private _follow(trace: RunTrace): void {
    this._trace = trace;
    const feed = new RunFeed(
      trace.run.id,
      this.query(),
      update => {
        if (this._trace !== trace) {
          return;
        }
        if (update.run) {
          trace.update(update.run);
        }
        trace.apply(update.events);
        this._merge(trace.run);
      },
      error => {
        if (this._trace === trace) {
          this.fail(describeError(error));
        }
      }
    );
    this._feed = feed;
    void feed.follow(0);
    void this._expectCells(trace);
  }

  /** Pending rows for the notebook's code cells, when the notebook can be read. */
  private async _expectCells(trace: RunTrace): Promise<void> {
    const path = this.notebookPath(trace.run);
    if (path === null) {
      return;
    }
    let cells: IExpectedCell[];
    try {
      const model = await this._host.contents.get(path, {
        type: 'notebook',
        content: true
      });
      const content = model.content as {
        cells?: { cell_type: string; source?: string | string[] }[];
      };
      cells = (content.cells ?? []).flatMap((c, i) =>
        c.cell_type === 'code'
          ? [{ cell: i + 1, label: firstLine(c.source) }]
          : []
      );
    } catch {
      return; // moved or deleted since: progress counts the cells that ran, without a total
    }
    if (this._trace === trace) {
      trace.expect(cells);
      this.emit();
    }
  }

  /** Put the newest word on a run into the list (and the selection). */
  private _merge(run: IRun): void {
    this._runs = this._runs.map(r => (r.id === run.id ? { ...run } : r));
    if (this._trace?.run.id === run.id && this._trace.run !== run) {
      this._trace.update(run);
    }
    this._schedule();
    this.emit();
  }

  private _projectRoot: string | null = null;
  private _runs: IRun[] = [];
  private _backends: ILaunchTarget[] = [];
  private _trace: RunTrace | null = null;
  private _feed: RunFeed | null = null;
  private _timer: number | undefined;
  private _revealed = 0;
}
