import * as React from 'react';

import { IRun } from '../api';
import { baseName, formatDuration, formatTime } from './format';
import { RefreshButton, StateBadge, useReveal } from './common';
import { useModel } from './model';
import { RunDetail, runSeconds } from './RunDetail';
import { RunsModel } from './RunsModel';
import { WorkState } from './WorkState';

/** Runs listed before "Show more". */
const PAGE = 10;

function RunRow(props: {
  run: IRun;
  selected: boolean;
  onSelect: () => void;
}): JSX.Element {
  const { run } = props;
  const seconds = runSeconds(run);
  const facts = [
    run.backend,
    seconds !== null ? formatDuration(seconds) : null,
    formatTime(run.started ?? run.created)
  ].filter(Boolean);
  return (
    <li data-testid={`nblift-run-${run.id}`}>
      <button
        className="jp-nblift-run-row"
        aria-pressed={props.selected}
        title={`${run.notebook} (${run.id})`}
        onClick={props.onSelect}
      >
        <span className="jp-nblift-run-head">
          <StateBadge state={run.state} />
          <span className="jp-nblift-run-name">{baseName(run.notebook)}</span>
        </span>
        <span className="jp-nblift-muted">{facts.join(' · ')}</span>
      </button>
    </li>
  );
}

/** The Runs view of the nblift sidebar: this project's runs, the selected one followed live. */
export function RunsView(props: { model: RunsModel }): JSX.Element {
  const { model } = props;
  useModel(model);
  const [shown, setShown] = React.useState(PAGE);
  const section = useReveal<HTMLElement>(model.revealed);
  const selected = model.trace?.run.id ?? null;
  const runs = model.runs;
  return (
    <section ref={section} className="jp-nblift-runs" aria-label="runs">
      <h3 className="jp-nblift-subtitle">Runs</h3>
      <WorkState model={model} />
      {runs.length === 0 ? (
        <p className="jp-nblift-muted">
          No runs yet: use Run on… in a notebook&apos;s toolbar.
        </p>
      ) : (
        <ul className="jp-nblift-run-list" aria-label="run list">
          {runs.slice(0, shown).map(run => (
            <RunRow
              key={run.id}
              run={run}
              selected={run.id === selected}
              onSelect={() => model.select(run.id === selected ? null : run.id)}
            />
          ))}
        </ul>
      )}
      <div className="jp-nblift-actions">
        <RefreshButton model={model} label="Refresh runs" />
        {runs.length > shown ? (
          <button
            className="jp-mod-styled"
            onClick={() => setShown(shown + PAGE)}
          >
            Show {Math.min(PAGE, runs.length - shown)} more
          </button>
        ) : null}
      </div>
      {model.trace ? <RunDetail model={model} trace={model.trace} /> : null}
    </section>
  );
}
