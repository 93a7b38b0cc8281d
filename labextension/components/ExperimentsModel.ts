import { PageConfig } from '@jupyterlab/coreutils';
import { Contents } from '@jupyterlab/services';

import {
  IComparison,
  IExperiment,
  IExperimentList,
  ITrackedRun,
  ITrackedRunDetail,
  ITrackedRunPage,
  NbliftAPIError,
  requestAPI
} from '../api';
import {
  ATTRIBUTE_COLUMNS,
  defaultColumns,
  IColumn,
  IColumnStore,
  ISort,
  orderBy,
  ordered,
  sameColumn
} from './columns';
import { describeError, ProjectModel } from './model';
import { locateNotebook } from './RunsModel';
import { confirmRestore, IRestorePlan, restorePlan } from './restoreConfirm';
import { KernelRunner } from './SnapshotsView';

/** What the Experiments view needs from the application. */
export interface IExperimentsHost {
  /** The contents API, to check that a run's notebook is under the server's root folder. */
  contents: Contents.IManager;
  /** Open a notebook (path relative to the server root). */
  open(path: string): Promise<void>;
  /** Where the chosen columns are remembered. */
  columns: IColumnStore;
}

/** Runs per page of the table. */
export const PAGE_SIZE = 50;
/** How often the page refreshes while a run on it is in progress. */
const POLL_MS = 2000;
/** The most runs the server compares at once. */
export const MAX_COMPARE = 10;
/** Snapshot ids as nblift writes them (anything else never reaches a kernel). */
const SNAPSHOT_ID = /^[0-9a-f]{4,64}$/;

/** One search: which experiment, filter and order, and which page. */
interface IQuery {
  experiment: string;
  filter: string;
  sort: ISort | null;
  /** The token of this page (null: the first) and of the pages before it. */
  token: string | null;
  previous: (string | null)[];
}

function live(run: { status: string }): boolean {
  return run.status === 'RUNNING';
}

/** The experiment updated last (the first one when none says). */
export function latestExperiment(experiments: IExperiment[]): string | null {
  let best: IExperiment | null = null;
  for (const e of experiments) {
    if (best === null || (e.last_update ?? -1) > (best.last_update ?? -1)) {
      best = e;
    }
  }
  return best?.id ?? null;
}

/** The project's own experiment when it has one (its runs, not snapshot records), else the one updated last. */
export function startingExperiment(reply: IExperimentList): string | null {
  const own = reply.experiments.find(e => e.name === reply.project_experiment);
  return own?.id ?? latestExperiment(reply.experiments);
}

/** A run's name as the table shows it (its id's start when it has none). */
export function runName(run: { run_id: string; name: string | null }): string {
  return run.name || run.run_id.slice(0, 8);
}

/**
 * State of the Experiments view: the project's experiments, one page of an experiment's runs as the
 * server searched them, the run opened, the runs selected and their comparison.
 */
export class ExperimentsModel extends ProjectModel {
  constructor(
    private readonly _host: IExperimentsHost,
    private readonly _serverRoot: string = PageConfig.getOption('serverRoot')
  ) {
    super();
  }

  /** The project's folder (absolute, as the status reports it): locates run notebooks. */
  set projectRoot(value: string | null) {
    if (value !== this._projectRoot) {
      this._projectRoot = value;
      if (this._detail) {
        void this._locateNotebook(this._detail);
      }
    }
  }

  /** Runs code in the current notebook's kernel (restoring a snapshot); null without a notebook. */
  set runner(runner: KernelRunner | null) {
    this._runInKernel = runner;
    this.emit();
  }
  get canRestore(): boolean {
    return this._runInKernel !== null;
  }

  /** Columns (`metrics.accuracy`) shown first by default where an experiment has them (a setting). */
  set preferredColumns(ids: string[]) {
    this._preferred = ids;
    if (this._page && !this._chosen) {
      this._columns = defaultColumns(this._page.keys, ids);
      this.emit();
    }
  }

  /** Whether the view is on screen: live refresh pauses while it is not. */
  set visible(value: boolean) {
    this._visible = value;
    this._schedule();
  }

  get trackingUri(): string | null {
    return this._trackingUri;
  }
  get experiments(): IExperiment[] {
    return this._experiments;
  }
  get experiment(): string | null {
    return this._q?.experiment ?? null;
  }
  get filter(): string {
    return this._q?.filter ?? '';
  }
  /** Why the server refused the last search (its message and hint), shown by the filter. */
  get filterError(): string | null {
    return this._filterError;
  }
  get sort(): ISort | null {
    return this._q?.sort ?? null;
  }
  get page(): ITrackedRunPage | null {
    return this._page;
  }
  /** Runs before this page. */
  get offset(): number {
    return (this._q?.previous.length ?? 0) * PAGE_SIZE;
  }
  get hasPrevious(): boolean {
    return (this._q?.previous.length ?? 0) > 0;
  }
  get hasNext(): boolean {
    return !!this._page?.next_page_token;
  }
  /** A search is in flight. */
  get loading(): boolean {
    return this._loading > 0;
  }
  /** True while a run on the page (or opened, or compared) is in progress: the view refreshes itself. */
  get isLive(): boolean {
    return this._visible && this._running();
  }
  /** Why the last live refresh failed (it tries again); null when it worked. */
  get liveError(): string | null {
    return this._liveError;
  }

  /** The parameter and metric columns shown, metrics first. */
  get columns(): IColumn[] {
    return this._columns;
  }
  /** Every column the chooser offers: the experiment's keys and whatever is shown already. */
  get choices(): IColumn[] {
    const keys = this._page?.keys ?? { params: [], metrics: [] };
    const all: IColumn[] = [
      ...keys.metrics.map(key => ({ kind: 'metrics' as const, key })),
      ...keys.params.map(key => ({ kind: 'params' as const, key })),
      ...ATTRIBUTE_COLUMNS.map(a => ({
        kind: 'attributes' as const,
        key: a.key
      }))
    ];
    for (const column of this._columns) {
      if (!all.some(c => sameColumn(c, column))) {
        all.push(column);
      }
    }
    return ordered(all);
  }

  /** Selected runs, in the order they were picked: id -> name. */
  get selected(): ReadonlyMap<string, string> {
    return this._selected;
  }
  get detail(): ITrackedRunDetail | null {
    return this._detail;
  }
  /** The opened run's notebook relative to the server root, when it is there; else null. */
  get notebook(): string | null {
    return this._notebook;
  }
  get comparison(): IComparison | null {
    return this._comparison;
  }
  /** Counts the runs opened: the detail comes into sight at each. */
  get opened(): number {
    return this._opened;
  }
  /** Counts the comparisons asked for: each comes into sight. */
  get compared(): number {
    return this._compared;
  }
  /** What the kernel said after a restore. */
  get message(): string | null {
    return this._message;
  }

  /** Reload the experiments and the page shown (keeping the search). */
  async refresh(): Promise<void> {
    await this.work(null, async () => {
      const reply = await requestAPI<IExperimentList>(
        'experiments',
        {},
        this.query()
      );
      if (reply.tracking_uri !== this._trackingUri) {
        this._reset();
        this._trackingUri = reply.tracking_uri;
      }
      this._experiments = reply.experiments;
      const current = this._q?.experiment;
      const keep = reply.experiments.some(e => e.id === current);
      const experiment = keep ? current : startingExperiment(reply);
      if (!experiment) {
        this._q = null;
        this._page = null;
        return;
      }
      await this._search(
        keep && this._q ? this._q : this._fresh(experiment),
        true
      );
    });
  }

  async selectExperiment(id: string): Promise<void> {
    if (id !== this._q?.experiment) {
      await this._run(this._fresh(id));
    }
  }

  /** Search with `text` (MLflow's filter syntax), from the first page. */
  async applyFilter(text: string): Promise<void> {
    if (this._q) {
      await this._run({
        ...this._q,
        filter: text.trim(),
        token: null,
        previous: []
      });
    }
  }

  /** Sort by `column`: ascending first, then the other way at each click. */
  async sortBy(column: IColumn): Promise<void> {
    if (!this._q) {
      return;
    }
    const sort = this._q.sort;
    const ascending =
      sort && sameColumn(sort.column, column) ? !sort.ascending : true;
    await this._run({
      ...this._q,
      sort: { column, ascending },
      token: null,
      previous: []
    });
  }

  async nextPage(): Promise<void> {
    const token = this._page?.next_page_token;
    if (this._q && token) {
      await this._run({
        ...this._q,
        token,
        previous: [...this._q.previous, this._q.token]
      });
    }
  }

  async previousPage(): Promise<void> {
    if (this._q && this._q.previous.length > 0) {
      const previous = this._q.previous.slice(0, -1);
      const token = this._q.previous[this._q.previous.length - 1];
      await this._run({ ...this._q, token, previous });
    }
  }

  /** Show or hide a column; the choice is remembered for this experiment. */
  async setColumn(column: IColumn, shown: boolean): Promise<void> {
    const others = this._columns.filter(c => !sameColumn(c, column));
    this._columns = ordered(shown ? [...others, column] : others);
    this._chosen = true;
    this.emit();
    const key = this._storeKey();
    if (key) {
      try {
        await this._host.columns.save(key, this._columns);
      } catch (error) {
        console.warn('nblift: cannot remember the columns', error);
      }
    }
  }

  /** Pick or drop a run for comparison. */
  toggle(run: ITrackedRun): void {
    const selected = new Map(this._selected);
    if (selected.has(run.run_id)) {
      selected.delete(run.run_id);
    } else if (selected.size < MAX_COMPARE) {
      selected.set(run.run_id, runName(run));
    }
    this._selected = selected;
    this.emit();
  }

  clearSelection(): void {
    this._selected = new Map();
    this._comparison = null;
    this.emit();
  }

  /** Open a run's detail; the open run again (or null) closes it. */
  async open(runId: string | null): Promise<void> {
    if (runId === null || runId === this._detail?.run.run_id) {
      this._opening = null;
      this._detail = null;
      this._notebook = null;
      this._message = null;
      this.emit();
      this._schedule();
      return;
    }
    this._opening = runId;
    await this.work('Loading the run', async () => {
      const detail = await this._fetchDetail(runId);
      if (this._opening === runId) {
        await this._show(detail);
        this._opened += 1;
      }
    });
    this._schedule();
  }

  /** Open a run's detail (brought into sight again when it is open already). */
  async show(runId: string): Promise<void> {
    if (this._detail?.run.run_id === runId) {
      this._opened += 1;
      this.emit();
      return;
    }
    await this.open(runId);
  }

  /** Open the opened run's notebook in JupyterLab. */
  async openNotebook(): Promise<void> {
    if (this._notebook) {
      const path = this._notebook;
      await this.work(null, () => this._host.open(path));
    }
  }

  /** Restore the opened run's snapshot into the current notebook's kernel. */
  async restore(): Promise<void> {
    const sid = this._detail?.lineage.snapshot ?? null;
    const run = this._runInKernel;
    if (!sid || !SNAPSHOT_ID.test(sid)) {
      this.fail(`${sid ?? 'this run'} is not a snapshot id nblift can restore`);
      return;
    }
    if (!run) {
      this.fail('Open a notebook with a running kernel first.');
      return;
    }
    this._message = null;
    const asked: { plan?: IRestorePlan } = {};
    await this.work(`Checking what restoring ${sid} overwrites`, async () => {
      asked.plan = await restorePlan(run, sid);
    });
    if (!asked.plan || !(await confirmRestore(asked.plan))) {
      return;
    }
    await this.work(`Restoring ${sid}`, async () => {
      this._message = (await run(`%lift restore ${sid}`)).trim();
    });
  }

  /** Compare the selected runs: parameters side by side and metric curves. */
  async compare(): Promise<void> {
    const ids = [...this._selected.keys()];
    if (ids.length < 2) {
      return;
    }
    await this.work('Comparing', async () => {
      this._comparison = await this._loadComparison(ids);
      this._compared += 1;
    });
    this._schedule();
  }

  closeComparison(): void {
    this._comparison = null;
    this.emit();
    this._schedule();
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    this._timer = undefined;
  }

  /** A new search of `experiment`: no filter, newest first. */
  private _fresh(experiment: string): IQuery {
    return { experiment, filter: '', sort: null, token: null, previous: [] };
  }

  private async _run(query: IQuery): Promise<void> {
    await this.work(null, () => this._search(query, false));
  }

  /**
   * Fetch the page `query` asks for and show it; the newest search wins over answers still on their way.
   * A search the server refuses (400) leaves the page as it was and says why by the filter.
   */
  private async _search(query: IQuery, quiet: boolean): Promise<void> {
    const generation = ++this._generation;
    this._loading += 1;
    if (!quiet) {
      this.emit();
    }
    let page: ITrackedRunPage;
    try {
      page = await this._fetchPage(query);
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      if (error instanceof NbliftAPIError && error.status === 400) {
        this._filterError = describeError(error);
        return;
      }
      throw error;
    } finally {
      this._loading -= 1;
    }
    if (generation !== this._generation) {
      return;
    }
    const experimentChanged = this._q?.experiment !== query.experiment;
    this._q = query;
    this._page = page;
    this._filterError = null;
    if (experimentChanged) {
      await this._loadColumns(query.experiment, page);
    } else if (!this._chosen) {
      this._columns = defaultColumns(page.keys, this._preferred); // keys seen since the first page
    }
    this._schedule();
  }

  private async _fetchPage(query: IQuery): Promise<ITrackedRunPage> {
    const args: Record<string, string> = {
      ...this.query(),
      page_size: String(PAGE_SIZE)
    };
    if (query.filter) {
      args.filter = query.filter;
    }
    if (query.sort) {
      args.order_by = orderBy(query.sort);
    }
    if (query.token) {
      args.page_token = query.token;
    }
    return requestAPI<ITrackedRunPage>(
      `experiments/${encodeURIComponent(query.experiment)}/runs`,
      {},
      args
    );
  }

  /** The columns remembered for the experiment, else the defaults for its keys. */
  private async _loadColumns(
    experiment: string,
    page: ITrackedRunPage
  ): Promise<void> {
    const key = this._storeKey(experiment);
    let stored: IColumn[] | null = null;
    if (key) {
      try {
        stored = await this._host.columns.load(key);
      } catch (error) {
        console.warn('nblift: cannot read the remembered columns', error);
      }
    }
    if (this._q?.experiment !== experiment) {
      return;
    }
    this._chosen = stored !== null;
    this._columns = ordered(
      stored ?? defaultColumns(page.keys, this._preferred)
    );
  }

  private async _fetchDetail(runId: string): Promise<ITrackedRunDetail> {
    return requestAPI<ITrackedRunDetail>(
      `tracking/runs/${encodeURIComponent(runId)}`,
      {},
      this.query()
    );
  }

  private async _show(detail: ITrackedRunDetail): Promise<void> {
    const changed = this._detail?.run.run_id !== detail.run.run_id;
    this._detail = detail;
    if (changed) {
      this._message = null;
      this._notebook = null;
      await this._locateNotebook(detail);
    }
  }

  private async _loadComparison(ids: string[]): Promise<IComparison> {
    return requestAPI<IComparison>(
      'tracking/compare',
      {},
      { ...this.query(), ids: ids.join(',') }
    );
  }

  /** Find the run's notebook under the server root. */
  private async _locateNotebook(detail: ITrackedRunDetail): Promise<void> {
    const found = await locateNotebook(
      this._host.contents,
      this._serverRoot,
      this._projectRoot,
      detail.lineage.notebook
    );
    if (this._detail?.run.run_id === detail.run.run_id) {
      this._notebook = found;
      this.emit();
    }
  }

  /** A run on the page, the opened run or a compared run is in progress. */
  private _running(): boolean {
    return (
      (this._page?.runs.some(live) ?? false) ||
      (this._detail !== null && live(this._detail.run)) ||
      (this._comparison?.runs.some(live) ?? false)
    );
  }

  /** Refresh again soon while a run shown is in progress and the view is on screen; stop otherwise. */
  private _schedule(): void {
    window.clearTimeout(this._timer);
    this._timer = undefined;
    if (this._running() && this._visible) {
      this._timer = window.setTimeout(() => void this._poll(), POLL_MS);
    }
  }

  private async _poll(): Promise<void> {
    this._timer = undefined;
    if (this.busy !== null || this._loading > 0 || !this._q) {
      this._schedule();
      return;
    }
    try {
      await this._search(this._q, true);
      const detail = this._detail;
      if (detail && live(detail.run)) {
        const id = detail.run.run_id;
        const fresh = await this._fetchDetail(id);
        if (this._detail?.run.run_id === id) {
          this._detail = fresh;
        }
      }
      const comparison = this._comparison;
      if (comparison && comparison.runs.some(live)) {
        const ids = comparison.runs.map(r => r.run_id);
        const fresh = await this._loadComparison(ids);
        if (this._comparison === comparison) {
          this._comparison = fresh;
        }
      }
      this._liveError = null;
    } catch (error) {
      this._liveError = describeError(error);
    }
    this.emit();
    this._schedule();
  }

  /** Forget everything of another tracking store. */
  private _reset(): void {
    this._q = null;
    this._liveError = null;
    this._page = null;
    this._columns = [];
    this._chosen = false;
    this._filterError = null;
    this._selected = new Map();
    this._detail = null;
    this._notebook = null;
    this._comparison = null;
    this._message = null;
  }

  /** The experiment's name in the column store: its tracking store and id. */
  private _storeKey(experiment = this._q?.experiment): string | null {
    return experiment && this._trackingUri
      ? `${this._trackingUri}#${experiment}`
      : null;
  }

  private _projectRoot: string | null = null;
  private _runInKernel: KernelRunner | null = null;
  private _visible = false;
  private _preferred: string[] = [];
  private _trackingUri: string | null = null;
  private _experiments: IExperiment[] = [];
  private _q: IQuery | null = null;
  private _page: ITrackedRunPage | null = null;
  private _generation = 0;
  private _loading = 0;
  private _filterError: string | null = null;
  private _liveError: string | null = null;
  private _columns: IColumn[] = [];
  /** The columns were chosen (now or before), not defaults. */
  private _chosen = false;
  private _selected = new Map<string, string>();
  private _detail: ITrackedRunDetail | null = null;
  /** The run whose detail was asked for last. */
  private _opening: string | null = null;
  private _notebook: string | null = null;
  private _comparison: IComparison | null = null;
  private _message: string | null = null;
  private _opened = 0;
  private _compared = 0;
  private _timer: number | undefined;
}
