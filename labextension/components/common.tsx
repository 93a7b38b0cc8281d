import { Clipboard } from '@jupyterlab/apputils';
import * as React from 'react';

import { formatNumber } from './format';
import { ProjectModel } from './model';

/** A run's state or status as a coloured badge. */
export function StateBadge(props: { state: string }): JSX.Element {
  return (
    <span
      className={`jp-nblift-state jp-nblift-state-${props.state.toLowerCase()}`}
    >
      {props.state}
    </span>
  );
}

/** A small button that copies `text` and says so for a moment. */
export function CopyButton(props: { text: string; what: string }): JSX.Element {
  const [copied, setCopied] = React.useState(false);
  React.useEffect(() => {
    if (!copied) {
      return;
    }
    const timer = window.setTimeout(() => setCopied(false), 1500);
    return () => window.clearTimeout(timer);
  }, [copied]);
  return (
    <button
      className="jp-mod-styled jp-nblift-small"
      aria-label={`copy ${props.what}`}
      title={`Copy the ${props.what}`}
      onClick={() => {
        Clipboard.copyToSystem(props.text);
        setCopied(true);
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** An id shown whole when it fits (else cut with an ellipsis), with a button that copies it. */
export function CopyableId(props: { text: string; what: string }): JSX.Element {
  return (
    <span className="jp-nblift-id">
      <code title={props.text}>{props.text}</code>
      <CopyButton text={props.text} what={props.what} />
    </span>
  );
}

/** Scrolls the returned element's top into view whenever `key` changes (a section just opened). */
export function useScrollIntoView<T extends HTMLElement>(
  key: unknown
): React.RefObject<T> {
  const ref = React.useRef<T>(null);
  React.useEffect(() => {
    ref.current?.scrollIntoView({ block: 'start' });
  }, [key]);
  return ref;
}

/**
 * Scrolls the returned element's top into view each time `count` goes up (a request to reveal it), not
 * when it first renders.
 */
export function useReveal<T extends HTMLElement>(
  count: number
): React.RefObject<T> {
  const ref = React.useRef<T>(null);
  React.useEffect(() => {
    if (count > 0) {
      ref.current?.scrollIntoView({ block: 'start' });
    }
  }, [count]);
  return ref;
}

/** A link that opens a run in MLflow's own UI, in a new tab. */
export function MlflowRunLink(props: { href: string }): JSX.Element {
  return (
    <a
      className="jp-mod-styled jp-nblift-link-button"
      href={props.href}
      target="_blank"
      rel="noopener noreferrer"
    >
      Open MLflow run
    </a>
  );
}

/** A table row naming one id (a commit, a snapshot, a lock), with its copy button. */
export function IdRow(props: {
  label: string;
  id: string;
  what: string;
  children?: React.ReactNode;
}): JSX.Element {
  return (
    <tr>
      <th scope="row">{props.label}</th>
      <td>
        <CopyableId text={props.id} what={props.what} />
        {props.children}
      </td>
    </tr>
  );
}

/** A dotted key (`mlflow.source.git.commit`) that may wrap after its dots and underscores. */
function Breakable(props: { text: string }): JSX.Element {
  const parts = props.text.split(/(?<=[._])/);
  return (
    <>
      {parts.map((part, i) => (
        <React.Fragment key={i}>
          {i > 0 ? <wbr /> : null}
          {part}
        </React.Fragment>
      ))}
    </>
  );
}

/** Key-value rows (parameters, metrics, tags), sorted by key. */
export function Pairs(props: {
  label: string;
  values: Record<string, string | number | null>;
  empty: string;
}): JSX.Element {
  const entries = Object.entries(props.values).sort(([a], [b]) =>
    a.localeCompare(b)
  );
  if (entries.length === 0) {
    return <p className="jp-nblift-muted">{props.empty}</p>;
  }
  return (
    <table className="jp-nblift-table jp-nblift-pairs" aria-label={props.label}>
      <tbody>
        {entries.map(([key, value]) => (
          <tr key={key}>
            <th scope="row" title={key}>
              <Breakable text={key} />
            </th>
            <td>
              {value === null
                ? 'NaN'
                : typeof value === 'number'
                  ? formatNumber(value)
                  : value}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The heading of an opened detail (a run, a comparison, a model version), with its Close button. */
export function DetailHeading(props: {
  /** What the Close button closes, for its label: `close ${what}`. */
  what: string;
  onClose: () => void;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <h4 className="jp-nblift-subtitle jp-nblift-heading">
      <span>{props.children}</span>
      <button
        className="jp-mod-styled jp-nblift-small"
        aria-label={`close ${props.what}`}
        onClick={props.onClose}
      >
        Close
      </button>
    </h4>
  );
}

/** What the last action said (a kernel's report, a registry change), as preformatted text; nothing when null. */
export function Message(props: {
  text: string | null;
  testId: string;
}): JSX.Element | null {
  return props.text ? (
    <pre className="jp-nblift-message" data-testid={props.testId}>
      {props.text}
    </pre>
  ) : null;
}

/** The button that reloads a view, disabled while its model works. */
export function RefreshButton(props: {
  model: ProjectModel;
  label: string;
}): JSX.Element {
  const { model } = props;
  return (
    <button
      className="jp-mod-styled"
      disabled={model.busy !== null}
      onClick={() => void model.refresh()}
    >
      {props.label}
    </button>
  );
}

/** A table of rows under plain column headers that scrolls sideways when wider than the sidebar. */
export function DataTable(props: {
  label: string;
  headers: string[];
  children: React.ReactNode;
}): JSX.Element {
  return (
    <div className="jp-nblift-table-scroll">
      <table className="jp-nblift-runs-table" aria-label={props.label}>
        <thead>
          <tr>
            {props.headers.map(header => (
              <th key={header} scope="col">
                {header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
