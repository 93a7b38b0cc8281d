import { Dialog, showDialog } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  ILaunchRequest,
  ILaunchTarget,
  INotebookParameter,
  IRun,
  IEstimate,
  IRunList,
  requestAPI
} from '../api';
import { baseName, formatTimeout } from './format';
import type { IFinding } from './EnvironmentsView';
import { describeError } from './model';

/** What the user chose in the dialog, as typed (parameter values are text). */
export interface ILaunchChoice {
  backend: string;
  parameters: Record<string, string>;
  timeout: string;
  /** USD, as typed ("" : the target's max_cost, or none). */
  budget: string;
}

/** Remembers the last choice per notebook. */
export interface IChoiceStore {
  load(notebook: string): Promise<ILaunchChoice | null>;
  save(notebook: string, choice: ILaunchChoice): Promise<void>;
}

const CHOICE_KEY = 'nblift:run-choice:';

function asChoice(value: unknown): ILaunchChoice | null {
  const v = value as Partial<ILaunchChoice> | null | undefined;
  if (!v || typeof v.backend !== 'string' || typeof v.timeout !== 'string') {
    return null;
  }
  const parameters: Record<string, string> = {};
  for (const [name, text] of Object.entries(v.parameters ?? {})) {
    if (typeof text === 'string') {
      parameters[name] = text;
    }
  }
  const budget = typeof v.budget === 'string' ? v.budget : '';
  return { backend: v.backend, parameters, timeout: v.timeout, budget };
}

/** Keep choices in JupyterLab's state database when there is one, else in the browser's local storage. */
export function choiceStore(state: IStateDB | null): IChoiceStore {
  if (state) {
    return {
      load: async notebook =>
        asChoice(await state.fetch(CHOICE_KEY + notebook)),
      save: async (notebook, choice) => {
        await state.save(
          CHOICE_KEY + notebook,
          choice as unknown as Parameters<IStateDB['save']>[1]
        );
      }
    };
  }
  return {
    load: async notebook => {
      try {
        return asChoice(
          JSON.parse(
            window.localStorage.getItem(CHOICE_KEY + notebook) ?? 'null'
          )
        );
      } catch {
        return null;
      }
    },
    save: async (notebook, choice) => {
      window.localStorage.setItem(
        CHOICE_KEY + notebook,
        JSON.stringify(choice)
      );
    }
  };
}

interface ILaunchOptions {
  notebook: string;
  backends: ILaunchTarget[];
  declared: Record<string, INotebookParameter>;
  /** Parameters shown besides the declared ones (a re-run's). */
  extra: string[];
}

function initialChoice(
  options: ILaunchOptions,
  defaultBackend: string,
  remembered: ILaunchChoice | null,
  preferred = ''
): ILaunchChoice {
  const usable = (name: string | undefined): boolean =>
    options.backends.some(b => b.name === name && b.launchable);
  const parameters: Record<string, string> = {};
  for (const name of [...Object.keys(options.declared), ...options.extra]) {
    parameters[name] =
      remembered?.parameters[name] ?? options.declared[name]?.default ?? '';
  }
  const backend = [remembered?.backend ?? '', preferred, defaultBackend].find(
    usable
  );
  return {
    backend:
      backend ??
      options.backends.find(b => b.launchable)?.name ??
      defaultBackend,
    parameters,
    timeout: remembered?.timeout ?? '',
    budget: remembered?.budget ?? ''
  };
}

/** The request for `choice`: parameters left at the notebook's default (or empty) are not sent. */
export function launchRequest(
  notebook: string,
  choice: ILaunchChoice,
  declared: Record<string, INotebookParameter>
): ILaunchRequest {
  // Sent as typed: the server parses each text with the same parser as `nblift run -p NAME=VALUE`.
  const parameterText: Record<string, string> = {};
  for (const [name, text] of Object.entries(choice.parameters)) {
    const written = declared[name]?.default ?? null;
    if (text.trim() === '' || text.trim() === written?.trim()) {
      continue;
    }
    parameterText[name] = text;
  }
  return {
    notebook,
    backend: choice.backend || null,
    parameter_text: parameterText,
    timeout: choice.timeout.trim() || null,
    budget: choice.budget.trim() || null
  };
}

function BackendField(props: {
  backends: ILaunchTarget[];
  value: string;
  onChange: (name: string) => void;
}): JSX.Element {
  // Only what the server says a run can go to is offered; the rest say how to make them usable.
  const offered = props.backends.filter(b => b.launchable);
  const missing = props.backends.filter(b => !b.available);
  const unconfigured = props.backends.filter(b => b.available && b.setup);
  return (
    <div className="jp-nblift-field">
      <label htmlFor="jp-nblift-launch-backend">Backend</label>
      <select
        id="jp-nblift-launch-backend"
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        {offered.map(b => (
          <option key={b.name} value={b.name}>
            {b.gpus ? `${b.name} (GPUs: ${b.gpus})` : b.name}
          </option>
        ))}
      </select>
      {unconfigured.length > 0 ? (
        <ul className="jp-nblift-hints" aria-label="targets to configure">
          {unconfigured.map(b => (
            <li key={b.name}>
              <strong>{b.name}</strong>: no target configured; {b.setup}
            </li>
          ))}
        </ul>
      ) : null}
      {missing.length > 0 ? (
        <ul className="jp-nblift-hints" aria-label="backends to install">
          {missing.map(b => (
            <li key={b.name}>
              <strong>{b.name}</strong> needs {b.missing.join(', ')}
              {b.install_hint ? `: ${b.install_hint}` : ''}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function ParameterFields(props: {
  declared: Record<string, INotebookParameter>;
  values: Record<string, string>;
  onChange: (name: string, text: string) => void;
}): JSX.Element {
  const names = Object.keys(props.values);
  if (names.length === 0) {
    return (
      <p className="jp-nblift-muted">
        This notebook has no cell tagged <code>parameters</code>: it runs with
        the values it sets itself.
      </p>
    );
  }
  return (
    <fieldset className="jp-nblift-parameters">
      <legend>Parameters</legend>
      <table className="jp-nblift-table">
        <tbody>
          {names.map(name => {
            const declared = props.declared[name];
            return (
              <tr key={name}>
                <th scope="row">
                  <label
                    htmlFor={`jp-nblift-param-${name}`}
                    title={declared?.help || declared?.type || undefined}
                  >
                    {name}
                  </label>
                </th>
                <td>
                  <input
                    id={`jp-nblift-param-${name}`}
                    className="jp-mod-styled"
                    value={props.values[name]}
                    placeholder={declared?.default ?? ''}
                    spellCheck={false}
                    onChange={e => props.onChange(name, e.target.value)}
                  />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="jp-nblift-muted">
        Values are read as JSON (3, 0.1, true, &quot;text&quot;, [1, 2]) or as
        Python literals; anything else is sent as text.
      </p>
    </fieldset>
  );
}

function LaunchForm(props: {
  options: ILaunchOptions;
  initial: ILaunchChoice;
  error: string | null;
  onChange: (choice: ILaunchChoice) => void;
}): JSX.Element {
  const [choice, setChoice] = React.useState(props.initial);
  const change = (next: ILaunchChoice): void => {
    setChoice(next);
    props.onChange(next);
  };
  return (
    <div className="jp-nblift-launch">
      {props.error ? (
        <div className="jp-nblift-error" role="alert">
          {props.error}
        </div>
      ) : null}
      <BackendField
        backends={props.options.backends}
        value={choice.backend}
        onChange={backend => change({ ...choice, backend })}
      />
      <ParameterFields
        declared={props.options.declared}
        values={choice.parameters}
        onChange={(name, text) =>
          change({
            ...choice,
            parameters: { ...choice.parameters, [name]: text }
          })
        }
      />
      <div className="jp-nblift-field">
        <label htmlFor="jp-nblift-launch-timeout">Timeout</label>
        <input
          id="jp-nblift-launch-timeout"
          className="jp-mod-styled"
          value={choice.timeout}
          placeholder="none (e.g. 30m or 2h)"
          onChange={e => change({ ...choice, timeout: e.target.value })}
        />
      </div>
      <div className="jp-nblift-field">
        <label htmlFor="jp-nblift-launch-budget">Budget (USD)</label>
        <input
          id="jp-nblift-launch-budget"
          className="jp-mod-styled"
          value={choice.budget}
          placeholder="none, or the target's max_cost (e.g. 5)"
          onChange={e => change({ ...choice, budget: e.target.value })}
        />
      </div>
      <EstimateLine
        notebook={props.options.notebook}
        backend={choice.backend}
        budget={choice.budget}
      />
    </div>
  );
}

/** How long to wait after the last keystroke before asking for an estimate. */
const ESTIMATE_DELAY_MS = 300;

/**
 * What the run would cost on the chosen target with the budget typed: Python's estimate, as it words it
 * (rate and where it comes from, expected duration, when the budget stops the run), or why there is none.
 */
function EstimateLine(props: {
  notebook: string;
  backend: string;
  budget: string;
}): JSX.Element {
  const [said, setSaid] = React.useState<{ text: string; error: boolean }>({
    text: '',
    error: false
  });
  React.useEffect(() => {
    let live = true;
    const timer = window.setTimeout(() => {
      const query: Record<string, string> = {
        notebook: props.notebook,
        backend: props.backend
      };
      if (props.budget.trim()) {
        query.budget = props.budget.trim();
      }
      requestAPI<IEstimate>('runs/estimate', {}, query)
        .then(found => live && setSaid({ text: found.text, error: false }))
        .catch(
          reason =>
            live && setSaid({ text: describeError(reason), error: true })
        );
    }, ESTIMATE_DELAY_MS);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [props.notebook, props.backend, props.budget]);
  return (
    <p
      className={said.error ? 'jp-nblift-error' : 'jp-nblift-estimate'}
      aria-label="cost estimate"
      aria-live="polite"
    >
      {said.text ? `Estimate: ${said.text}` : 'Estimating…'}
    </p>
  );
}

/** The dialog's body: the form, and the choice it holds when the dialog closes. */
class LaunchBody
  extends ReactWidget
  implements Dialog.IBodyWidget<ILaunchChoice>
{
  constructor(
    private readonly _options: ILaunchOptions,
    private _choice: ILaunchChoice,
    private readonly _error: string | null
  ) {
    super();
  }

  getValue(): ILaunchChoice {
    return this._choice;
  }

  protected render(): JSX.Element {
    return (
      <LaunchForm
        options={this._options}
        initial={this._choice}
        error={this._error}
        onChange={choice => (this._choice = choice)}
      />
    );
  }
}

/**
 * Check the notebook against a remote target before launching there (its GPU driver against the lock's
 * CUDA, and that it can be reached); errors are shown and the user chooses to launch anyway or go back.
 */
async function preflightPasses(
  notebook: string,
  backend: string
): Promise<boolean> {
  if (!backend.includes(':')) {
    return true; // local runs: the Environments view shows preflight
  }
  let errors: IFinding[];
  try {
    const reply = await requestAPI<{ findings: IFinding[] }>(
      'env/preflight',
      {},
      { path: notebook, backend }
    );
    errors = reply.findings.filter(f => f.severity === 'error');
  } catch (reason) {
    errors = [
      {
        severity: 'error',
        check: 'preflight',
        message: describeError(reason),
        cell: null,
        hint: null
      }
    ];
  }
  if (errors.length === 0) {
    return true;
  }
  const answer = await showDialog({
    title: `Preflight on ${backend} found problems`,
    body: (
      <ul className="jp-nblift-drift" aria-label="preflight findings">
        {errors.map((f, i) => (
          <li key={i}>
            {f.message}
            {f.hint ? ` (${f.hint})` : ''}
          </li>
        ))}
      </ul>
    ),
    buttons: [
      Dialog.cancelButton({ label: 'Back' }),
      Dialog.warnButton({ label: 'Launch anyway' })
    ]
  });
  return answer.button.accept;
}

/** A fresh id for one launch (crypto.randomUUID needs a secure context; this does not). */
function submissionId(): string {
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Ask where and how to run `notebook` (path relative to the server root) and launch it; an
 * answer the server refuses comes back in the dialog with its hint. Resolves with the new run, or
 * null when the user cancels. `from`: a run whose backend, parameters and timeout fill the form;
 * `preferred`: the backend chosen first when the notebook has no remembered choice (a setting).
 */
export async function launchRun(
  notebook: string,
  store: IChoiceStore,
  from: IRun | null = null,
  preferred = ''
): Promise<IRun | null> {
  const [list, inspected] = await Promise.all([
    requestAPI<IRunList>('runs', {}, { path: notebook }),
    requestAPI<{ parameters: Record<string, INotebookParameter> }>(
      'runs/parameters',
      {},
      { notebook }
    )
  ]);
  const declared = inspected.parameters;
  const remembered: ILaunchChoice | null = from
    ? {
        backend: from.backend,
        parameters: { ...from.parameter_text },
        timeout: from.timeout ? formatTimeout(from.timeout) : '',
        budget: from.cost?.budget ? String(from.cost.budget) : ''
      }
    : await store.load(notebook);
  const options: ILaunchOptions = {
    notebook,
    backends: list.backends,
    declared,
    extra: from
      ? Object.keys(from.parameters).filter(k => !(k in declared))
      : []
  };
  let choice = initialChoice(
    options,
    list.default_backend,
    remembered,
    preferred
  );
  let error: string | null = null;
  let sent: { key: string; id: string } | null = null;
  for (;;) {
    const result = await showDialog<ILaunchChoice>({
      title: `Run ${baseName(notebook)} on…`,
      body: new LaunchBody(options, choice, error),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Launch' })],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    choice = result.value;
    if (!(await preflightPasses(notebook, choice.backend))) {
      continue; // back to the form
    }
    // The same request sent again (after a dropped connection) carries the same id, and the
    // server answers with the run the first one started instead of starting a second.
    const request = launchRequest(notebook, choice, declared);
    const key = JSON.stringify(request);
    if (sent === null || sent.key !== key) {
      sent = { key, id: submissionId() };
    }
    try {
      const run = await requestAPI<IRun>('runs', {
        method: 'POST',
        body: JSON.stringify({ ...request, submission_id: sent.id })
      });
      try {
        await store.save(notebook, choice);
      } catch (reason) {
        console.warn('nblift: cannot remember the launch choice', reason);
      }
      return run;
    } catch (reason) {
      error = describeError(reason);
    }
  }
}
