import { IStateDB } from '@jupyterlab/statedb';

import { ITrackedRun } from '../api';

/** Where a column's values come from, named as MLflow's search names them. */
export type ColumnKind = 'metrics' | 'params' | 'attributes';

/** A column of the runs table. */
export interface IColumn {
  kind: ColumnKind;
  key: string;
}

/** The column sorted on, and which way. */
export interface ISort {
  column: IColumn;
  ascending: boolean;
}

/** The attribute columns the chooser offers besides parameters and metrics. */
export const ATTRIBUTE_COLUMNS: { key: string; label: string }[] = [
  { key: 'start_time', label: 'Started' }
];

/** The run's name column sorts by this attribute. */
export const NAME_COLUMN: IColumn = { kind: 'attributes', key: 'run_name' };

/** `metrics.loss`, `params.lr`, `attributes.start_time`. */
export function columnId(column: IColumn): string {
  return `${column.kind}.${column.key}`;
}

export function sameColumn(a: IColumn, b: IColumn): boolean {
  return a.kind === b.kind && a.key === b.key;
}

/** The column an id names (the key may itself hold dots), or null for an id of no known kind. */
export function parseColumn(id: string): IColumn | null {
  const dot = id.indexOf('.');
  const kind = id.slice(0, dot);
  const key = id.slice(dot + 1);
  if (dot < 1 || !key || !['metrics', 'params', 'attributes'].includes(kind)) {
    return null;
  }
  return { kind: kind as ColumnKind, key };
}

/** A header's text: attributes by their label, parameters and metrics by their key. */
export function columnLabel(column: IColumn): string {
  if (column.kind === 'attributes') {
    return (
      ATTRIBUTE_COLUMNS.find(a => a.key === column.key)?.label ?? column.key
    );
  }
  return column.key;
}

/** MLflow's `order_by` for a sort: keys that are not plain identifiers go in backquotes. */
export function orderBy(sort: ISort): string {
  const { kind, key } = sort.column;
  const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `\`${key}\``;
  return `${kind}.${name} ${sort.ascending ? 'ASC' : 'DESC'}`;
}

/** Metrics and parameters shown of each kind before the user chooses. */
export const DEFAULT_PER_KIND = 4;

/**
 * Whether a key looks written by MLflow's autologging rather than by the notebook: `training_*` scores,
 * post-training metrics such as `Pipeline_score-2_X_test`, nested estimator parameters (`clf__C`).
 */
export function looksAutologged(key: string): boolean {
  return /^training_|-\d+_|_X(_|$)|__/.test(key);
}

/**
 * The columns shown before the user chooses: the preferred ones (a setting, as `metrics.loss`) the
 * experiment has, then the user's own metrics and parameters before autologged ones, a few of each.
 */
export function defaultColumns(
  keys: {
    params: string[];
    metrics: string[];
  },
  preferred: string[] = []
): IColumn[] {
  const pick = (kind: 'metrics' | 'params', names: string[]): IColumn[] => {
    const wanted = preferred
      .map(parseColumn)
      .filter(
        (c): c is IColumn =>
          c !== null && c.kind === kind && names.includes(c.key)
      )
      .map(c => c.key);
    const own = names.filter(k => !looksAutologged(k));
    const auto = names.filter(k => looksAutologged(k));
    const order = [...new Set([...wanted, ...own, ...auto])];
    return order
      .slice(0, Math.max(DEFAULT_PER_KIND, wanted.length))
      .map(key => ({ kind, key }));
  };
  return [...pick('metrics', keys.metrics), ...pick('params', keys.params)];
}

/** Metrics first, then parameters, then attributes; each kind in the order it was chosen. */
export function ordered(columns: IColumn[]): IColumn[] {
  const rank: Record<ColumnKind, number> = {
    metrics: 0,
    params: 1,
    attributes: 2
  };
  return columns
    .map((column, i) => ({ column, i }))
    .sort((a, b) => rank[a.column.kind] - rank[b.column.kind] || a.i - b.i)
    .map(c => c.column);
}

/** A run's value in a column (null where it has none). */
export function cellValue(
  run: ITrackedRun,
  column: IColumn
): string | number | null {
  switch (column.kind) {
    case 'metrics':
      return run.metrics[column.key] ?? null;
    case 'params':
      return run.params[column.key] ?? null;
    case 'attributes':
      return column.key === 'start_time' ? run.start_time : null;
  }
}

/** Remembers the columns chosen for each experiment. */
export interface IColumnStore {
  load(experiment: string): Promise<IColumn[] | null>;
  save(experiment: string, columns: IColumn[]): Promise<void>;
}

const COLUMNS_KEY = 'nblift:experiment-columns:';

function asColumns(value: unknown): IColumn[] | null {
  if (!Array.isArray(value)) {
    return null;
  }
  return value
    .filter((id): id is string => typeof id === 'string')
    .map(parseColumn)
    .filter((c): c is IColumn => c !== null);
}

/**
 * Keep the chosen columns in JupyterLab's state database when there is one, else in the browser's
 * local storage; `experiment` names the experiment within its tracking store.
 */
export function columnStore(state: IStateDB | null): IColumnStore {
  if (state) {
    return {
      load: async experiment =>
        asColumns(await state.fetch(COLUMNS_KEY + experiment)),
      save: async (experiment, columns) => {
        await state.save(COLUMNS_KEY + experiment, columns.map(columnId));
      }
    };
  }
  return {
    load: async experiment => {
      try {
        return asColumns(
          JSON.parse(
            window.localStorage.getItem(COLUMNS_KEY + experiment) ?? 'null'
          )
        );
      } catch {
        return null;
      }
    },
    save: async (experiment, columns) => {
      window.localStorage.setItem(
        COLUMNS_KEY + experiment,
        JSON.stringify(columns.map(columnId))
      );
    }
  };
}
