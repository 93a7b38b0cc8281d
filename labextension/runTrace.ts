import { IRun, IRunError, IRunEvent, RunState, TERMINAL_STATES } from './api';
import {
  ICellErrorEvent,
  ICellFinishedEvent,
  ICellStartedEvent,
  IMetricEvent,
  IOutputEvent
} from './runEvents';

export type CellStatus = 'pending' | 'running' | 'done' | 'error' | 'stopped';

/** One code cell of a run: its place in the user's notebook (null: the injected parameters). */
export interface ICellRow {
  key: string;
  cell: number | null;
  label: string;
  status: CellStatus;
  duration: number | null;
  /** Sort key: the cell's position; the injected cell sits just after the cell run before it. */
  order: number;
}

export interface ILogEntry {
  id: number;
  stream: string;
  cell: number | null;
  text: string;
}

export interface IMetricSeries {
  name: string;
  values: number[];
  step: number | null;
}

/** A code cell of the notebook as saved: its 1-based position among all cells, and its first line. */
export interface IExpectedCell {
  cell: number;
  label: string;
}

const MAX_LOGS = 500;
const MAX_POINTS = 200;

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** What a run's events say so far: per-cell progress, logs, metrics, tracking and artifacts. */
export class RunTrace {
  constructor(run: IRun) {
    this.run = { ...run };
  }

  /** The run as last reported (by the list, the stream or its events). */
  run: IRun;
  cells: ICellRow[] = [];
  logs: ILogEntry[] = [];
  metrics = new Map<string, IMetricSeries>();
  kernel: string | null = null;
  artifacts: string[] = [];
  trackingError: string | null = null;
  /** The failing cell, as soon as its error event comes (the run's error follows at its end). */
  cellError: IRunError | null = null;
  /** How many code cells the notebook has, when it could be read; null: unknown. */
  total: number | null = null;
  /** Log lines dropped to keep the view light. */
  dropped = 0;

  get inFlight(): boolean {
    return !TERMINAL_STATES.has(this.run.state);
  }

  /** User cells that have finished (ok or not). */
  get finishedCells(): number {
    return this.cells.filter(
      c => c.cell !== null && (c.status === 'done' || c.status === 'error')
    ).length;
  }

  /** Rows for the notebook's code cells that no event has named yet. */
  expect(cells: IExpectedCell[]): void {
    this.total = cells.length;
    for (const expected of cells) {
      if (!this._byKey.has(String(expected.cell))) {
        this._add({
          key: String(expected.cell),
          cell: expected.cell,
          label: expected.label,
          status: 'pending',
          duration: null,
          order: expected.cell
        });
      }
    }
    this._sort();
  }

  /** Take the server's word on the run (newer than what the events said so far). */
  update(run: IRun): void {
    if (
      TERMINAL_STATES.has(this.run.state) &&
      !TERMINAL_STATES.has(run.state)
    ) {
      return; // an answer that left the server before the run's end arrived here after it
    }
    this.run = { ...run, mlflow: run.mlflow ?? this.run.mlflow };
  }

  apply(events: IRunEvent[]): void {
    for (const event of events) {
      this._apply(event);
    }
    this._sort();
  }

  private _apply(event: IRunEvent): void {
    switch (event.kind) {
      case 'run.started':
        this._setState('RUNNING');
        this.run.started = this.run.started ?? event.t;
        break;
      case 'kernel.starting':
        this.kernel = str(event.kernel) || 'python3';
        break;
      case 'cell.started': {
        const row = this._row(event);
        row.status = 'running';
        row.label = str(event.label) || row.label;
        this._lastStarted = row;
        break;
      }
      case 'cell.finished': {
        const row = this._row(event);
        row.status =
          event.status === 'error'
            ? 'error'
            : event.status === 'interrupted'
              ? 'stopped'
              : 'done';
        row.duration = num(event.duration);
        break;
      }
      case 'cell.error':
        this._row(event).status = 'error';
        this.cellError = {
          message: `${str(event.ename)}: ${str(event.evalue)}`,
          cell: num(event.cell),
          label: str(event.label),
          ename: str(event.ename),
          evalue: str(event.evalue),
          traceback: str(event.traceback)
        };
        break;
      case 'output':
        this._log(event);
        break;
      case 'metric':
        this._metric(event);
        break;
      case 'tracking':
        this.run.mlflow = this.run.mlflow ?? {
          run_id: str(event.run_id),
          experiment_id: str(event.experiment_id),
          tracking_uri: str(event.tracking_uri)
        };
        break;
      case 'tracking.error':
        this.trackingError = str(event.message);
        break;
      case 'artifacts':
        this.artifacts = Array.isArray(event.files)
          ? event.files.map(String)
          : [];
        break;
      case 'run.finished':
        this._setState(str(event.state) as RunState);
        this.run.finished = this.run.finished ?? event.t;
        this.run.error =
          (event.error as IRunError | null | undefined) ?? this.run.error;
        break;
    }
  }

  private _setState(state: RunState): void {
    if (state && !TERMINAL_STATES.has(this.run.state)) {
      this.run.state = state;
    }
  }

  /** The row a cell event is about, made when no row has it yet. */
  private _row(
    event: ICellStartedEvent | ICellFinishedEvent | ICellErrorEvent
  ): ICellRow {
    const cell = num(event.cell);
    const index = num(event.index);
    const key = cell === null ? 'parameters' : String(cell);
    let row = this._byKey.get(key);
    if (!row) {
      row = {
        key,
        cell,
        label: 'label' in event ? event.label : '',
        status: 'pending',
        duration: null,
        order: cell ?? (this._lastStarted?.order ?? 0) + 0.5
      };
      this._add(row);
    }
    if (index !== null) {
      this._byIndex.set(index, row);
    }
    return row;
  }

  private _add(row: ICellRow): void {
    this._byKey.set(row.key, row);
    this.cells.push(row);
  }

  private _sort(): void {
    this.cells.sort((a, b) => a.order - b.order);
  }

  private _log(event: IOutputEvent): void {
    const index = num(event.index);
    const row = index === null ? undefined : this._byIndex.get(index);
    this.logs.push({
      id: this._logId++,
      stream: str(event.stream) || 'stdout',
      cell: row?.cell ?? null,
      text: str(event.text)
    });
    if (this.logs.length > MAX_LOGS) {
      this.dropped += this.logs.length - MAX_LOGS;
      this.logs = this.logs.slice(-MAX_LOGS);
    }
  }

  private _metric(event: IMetricEvent): void {
    const name = str(event.name);
    const value = num(event.value);
    if (!name || value === null) {
      return;
    }
    const series = this.metrics.get(name) ?? { name, values: [], step: null };
    series.values = [...series.values, value].slice(-MAX_POINTS);
    series.step = num(event.step);
    this.metrics.set(name, series);
  }

  private _byKey = new Map<string, ICellRow>();
  private _byIndex = new Map<number, ICellRow>();
  private _lastStarted: ICellRow | null = null;
  private _logId = 0;
}
