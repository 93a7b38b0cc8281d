import * as React from 'react';

import { IRun } from '../api';
import { baseName, formatDuration, formatTime } from './format';
import { StateBadge, useReveal } from './common';
import { useModel } from './model';
import { RunDetail, runSeconds } from './RunDetail';
import { RunsModel } from './RunsModel';
import { WorkState } from './WorkState';

/** Runs listed before "Show more". */
const PAGE = 25;

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

/**
 * The Runs view (a main-area tab): this project's runs on every backend beside the selected one, followed
 * live (no Refresh: the views follow the kernel and poll with back-off).
 */
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
      <div className="jp-nblift-split">
        <div className="jp-nblift-split-list">
          {runs.length === 0 ? (
            <p className="jp-nblift-muted">
              No runs yet: press Run on… in a notebook&apos;s toolbar (or run{' '}
              <code>%lift run NOTEBOOK</code> in a cell); the run shows up here.
            </p>
          ) : (
            <ul className="jp-nblift-run-list" aria-label="run list">
              {runs.slice(0, shown).map(run => (
                <RunRow
                  key={run.id}
                  run={run}
                  selected={run.id === selected}
                  onSelect={() =>
                    model.select(run.id === selected ? null : run.id)
                  }
                />
              ))}
            </ul>
          )}
          {runs.length > shown ? (
            <div className="jp-nblift-actions">
              <button
                className="jp-mod-styled"
                onClick={() => setShown(shown + PAGE)}
              >
                Show {Math.min(PAGE, runs.length - shown)} more
              </button>
            </div>
          ) : null}
        </div>
        <div className="jp-nblift-split-detail">
          {model.trace ? (
            <RunDetail model={model} trace={model.trace} />
          ) : runs.length > 0 ? (
            <p className="jp-nblift-muted">
              Select a run to follow its cells, output and metrics.
            </p>
          ) : null}
        </div>
      </div>
    </section>
  );
}
