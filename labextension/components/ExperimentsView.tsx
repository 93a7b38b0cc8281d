import * as React from 'react';

import { ITrackedRun } from '../api';
import {
  cellValue,
  columnId,
  columnLabel,
  IColumn,
  ISort,
  NAME_COLUMN,
  sameColumn
} from './columns';
import { RefreshButton, StateBadge } from './common';
import { CompareView } from './CompareView';
import { ExperimentsModel, MAX_COMPARE, runName } from './ExperimentsModel';
import { formatNumber, formatTime } from './format';
import { useModel } from './model';
import { TrackedRunView } from './TrackedRunView';
import { WorkState } from './WorkState';

/** Where the server sorts when nobody chose: newest first. */
const NEWEST_FIRST: ISort = {
  column: { kind: 'attributes', key: 'start_time' },
  ascending: false
};

function cellText(value: string | number | null, column: IColumn): string {
  if (value === null) {
    return '';
  }
  if (column.kind === 'attributes') {
    return typeof value === 'number' ? formatTime(value / 1000) : value;
  }
  return typeof value === 'number' ? formatNumber(value) : value;
}

function ExperimentPicker(props: { model: ExperimentsModel }): JSX.Element {
  const { model } = props;
  return (
    <label className="jp-nblift-field jp-nblift-picker">
      <span>Experiment</span>
      <select
        className="jp-nblift-select"
        aria-label="Experiment"
        value={model.experiment ?? ''}
        disabled={model.busy !== null}
        onChange={e => void model.selectExperiment(e.currentTarget.value)}
      >
        {model.experiments.map(e => (
          <option key={e.id} value={e.id}>
            {e.name}
            {e.runs !== null ? ` (${e.runs})` : ''}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The search box: MLflow's filter syntax, applied by the server when Enter is pressed. */
function FilterBox(props: { model: ExperimentsModel }): JSX.Element {
  const { model } = props;
  const [text, setText] = React.useState(model.filter);
  React.useEffect(
    () => setText(model.filter),
    [model.filter, model.experiment]
  );
  return (
    <form
      className="jp-nblift-filter"
      role="search"
      onSubmit={e => {
        e.preventDefault();
        void model.applyFilter(text);
      }}
    >
      <input
        type="search"
        className="jp-mod-styled"
        aria-label="Filter runs"
        title="MLflow's filter syntax, e.g. metrics.loss < 0.5 and params.lr = '0.1'; Enter searches"
        placeholder="metrics.loss < 0.5"
        spellCheck={false}
        value={text}
        onChange={e => {
          const value = e.currentTarget.value;
          setText(value);
          if (value === '' && model.filter !== '') {
            void model.applyFilter(''); // the field's clear button
          }
        }}
      />
      {model.filterError ? (
        <div className="jp-nblift-error" role="alert" aria-label="filter error">
          {model.filterError}
          <div className="jp-nblift-muted">
            The table still shows{' '}
            {model.filter ? <code>{model.filter}</code> : 'every run'}.
          </div>
        </div>
      ) : null}
    </form>
  );
}

/** Which metrics, parameters and attributes are columns (remembered per experiment). */
function ColumnChooser(props: { model: ExperimentsModel }): JSX.Element {
  const { model } = props;
  const groups: { title: string; kind: IColumn['kind'] }[] = [
    { title: 'Metrics', kind: 'metrics' },
    { title: 'Parameters', kind: 'params' },
    { title: 'Run', kind: 'attributes' }
  ];
  const choices = model.choices;
  return (
    <details className="jp-nblift-chooser">
      <summary>Columns</summary>
      <div className="jp-nblift-chooser-body">
        {groups.map(group => {
          const columns = choices.filter(c => c.kind === group.kind);
          if (columns.length === 0) {
            return null;
          }
          return (
            <fieldset key={group.kind}>
              <legend>{group.title}</legend>
              {columns.map(column => (
                <label key={columnId(column)} title={columnId(column)}>
                  <input
                    type="checkbox"
                    aria-label={columnId(column)}
                    checked={model.columns.some(c => sameColumn(c, column))}
                    onChange={e =>
                      void model.setColumn(column, e.currentTarget.checked)
                    }
                  />
                  {columnLabel(column)}
                </label>
              ))}
            </fieldset>
          );
        })}
      </div>
    </details>
  );
}

function SortHeader(props: {
  model: ExperimentsModel;
  column: IColumn;
  label: string;
}): JSX.Element {
  const { model, column, label } = props;
  const sort = model.sort ?? NEWEST_FIRST;
  const sorted = sameColumn(sort.column, column);
  const direction = sorted
    ? sort.ascending
      ? 'ascending'
      : 'descending'
    : 'none';
  return (
    <th
      scope="col"
      aria-sort={direction}
      className={`jp-nblift-col-${column.kind}`}
    >
      <button
        className="jp-nblift-sort"
        aria-label={`sort by ${columnId(column)}`}
        title={`${columnId(column)}: click to sort`}
        disabled={model.experiment === null}
        onClick={() => void model.sortBy(column)}
      >
        <span className="jp-nblift-sort-label">{label}</span>
        <span className="jp-nblift-sort-mark" aria-hidden="true">
          {sorted ? (sort.ascending ? '▲' : '▼') : ''}
        </span>
      </button>
    </th>
  );
}

function RunRow(props: {
  model: ExperimentsModel;
  run: ITrackedRun;
  columns: IColumn[];
}): JSX.Element {
  const { model, run, columns } = props;
  const name = runName(run);
  const opened = model.detail?.run.run_id === run.run_id;
  const checked = model.selected.has(run.run_id);
  const full = !checked && model.selected.size >= MAX_COMPARE;
  return (
    <tr
      data-testid={`nblift-tracked-${run.run_id}`}
      aria-selected={opened}
      className={opened ? 'jp-mod-selected' : undefined}
      onClick={() => void model.open(run.run_id)}
    >
      <td className="jp-nblift-col-check" onClick={e => e.stopPropagation()}>
        <input
          type="checkbox"
          aria-label={`select ${name}`}
          title={full ? `compare at most ${MAX_COMPARE} runs` : 'compare'}
          checked={checked}
          disabled={full}
          onChange={() => model.toggle(run)}
        />
      </td>
      <th scope="row" className="jp-nblift-col-name">
        <button
          className="jp-nblift-run-link"
          title={`${name} (${run.run_id})`}
          onClick={e => {
            e.stopPropagation();
            void model.open(run.run_id);
          }}
        >
          {name}
        </button>
        <StateBadge state={run.status} />
      </th>
      {columns.map(column => {
        const value = cellValue(run, column);
        return (
          <td
            key={columnId(column)}
            className={`jp-nblift-col-${column.kind}`}
            title={value === null ? undefined : String(value)}
          >
            {cellText(value, column)}
          </td>
        );
      })}
    </tr>
  );
}

function RunsTable(props: { model: ExperimentsModel }): JSX.Element | null {
  const { model } = props;
  const page = model.page;
  if (!page) {
    return null;
  }
  const columns = model.columns;
  return (
    <div className="jp-nblift-table-scroll">
      <table
        className="jp-nblift-runs-table"
        aria-label="experiment runs"
        aria-busy={model.loading}
      >
        <thead>
          <tr>
            <th scope="col" className="jp-nblift-col-check">
              <span className="jp-nblift-visually-hidden">Compare</span>
            </th>
            <SortHeader model={model} column={NAME_COLUMN} label="Run" />
            {columns.map(column => (
              <SortHeader
                key={columnId(column)}
                model={model}
                column={column}
                label={columnLabel(column)}
              />
            ))}
          </tr>
        </thead>
        <tbody>
          {page.runs.map(run => (
            <RunRow
              key={run.run_id}
              model={model}
              run={run}
              columns={columns}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Pager(props: { model: ExperimentsModel }): JSX.Element | null {
  const { model } = props;
  const page = model.page;
  if (!page) {
    return null;
  }
  const first = model.offset + 1;
  const last = model.offset + page.runs.length;
  const range =
    page.runs.length === 0
      ? model.filter
        ? 'no runs match the filter'
        : 'no runs yet'
      : `rows ${first}–${last}` +
        (page.total !== null ? ` of ${page.total}` : '');
  return (
    <div className="jp-nblift-pager">
      <span data-testid="nblift-runs-range">{range}</span>
      <span className="jp-nblift-pager-buttons">
        <button
          className="jp-mod-styled jp-nblift-small"
          disabled={!model.hasPrevious || model.loading}
          onClick={() => void model.previousPage()}
        >
          Previous
        </button>
        <button
          className="jp-mod-styled jp-nblift-small"
          disabled={!model.hasNext || model.loading}
          onClick={() => void model.nextPage()}
        >
          Next
        </button>
      </span>
    </div>
  );
}

function SelectionBar(props: { model: ExperimentsModel }): JSX.Element | null {
  const { model } = props;
  const count = model.selected.size;
  if (count === 0) {
    return null;
  }
  return (
    <div className="jp-nblift-actions jp-nblift-selection">
      {count < 2 ? (
        <span className="jp-nblift-muted">
          1 run selected: tick another to compare
        </span>
      ) : (
        <button
          className="jp-mod-styled jp-mod-accept"
          disabled={model.busy !== null}
          title={[...model.selected.values()].join(', ')}
          onClick={() => void model.compare()}
        >
          Compare {count} runs
        </button>
      )}
      <button
        className="jp-mod-styled jp-nblift-small"
        aria-label="Clear selection"
        title="Clear the selection"
        onClick={() => model.clearSelection()}
      >
        Clear
      </button>
    </div>
  );
}

/** The Experiments view: MLflow experiments, their runs searched by the server, a run's detail, a comparison. */
export function ExperimentsView(props: {
  model: ExperimentsModel;
}): JSX.Element {
  const { model } = props;
  useModel(model);
  return (
    <section className="jp-nblift-experiments" aria-label="experiments">
      <h3 className="jp-nblift-subtitle">Experiments</h3>
      <WorkState model={model} />
      {model.experiments.length === 0 ? (
        <p className="jp-nblift-muted">
          No experiments yet: nblift.track() in a notebook, or a run, records
          one.
        </p>
      ) : (
        <>
          <ExperimentPicker model={model} />
          <FilterBox model={model} />
          <div className="jp-nblift-table-tools">
            <ColumnChooser model={model} />
            {model.isLive ? (
              <span className="jp-nblift-live" title="refreshing every 2 s">
                live
              </span>
            ) : null}
          </div>
          <RunsTable model={model} />
          <Pager model={model} />
          {model.liveError ? (
            <div className="jp-nblift-muted">
              Live refresh failed ({model.liveError}); trying again.
            </div>
          ) : null}
          <SelectionBar model={model} />
        </>
      )}
      <div className="jp-nblift-actions">
        <RefreshButton model={model} label="Refresh experiments" />
      </div>
      {model.detail ? <TrackedRunView model={model} /> : null}
      {model.comparison ? <CompareView model={model} /> : null}
    </section>
  );
}
