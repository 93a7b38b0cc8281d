import { Clipboard } from '@jupyterlab/apputils';
import * as React from 'react';

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
