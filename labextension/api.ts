import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { VERSION } from './_version';
import { RunEvent } from './runEvents';

/** Version of the frontend (written from package.json at build time); must match the server's. */
export const FRONTEND_VERSION: string = VERSION;

export interface IBackend {
  name: string;
  available: boolean;
  missing: string[];
  install_hint: string | null;
  source: string;
  /** A configured ssh host's or Ray cluster's GPUs (launch targets only). */
  gpus?: string | null;
  /** What status says of it, as Python words it: its targets, how to add one, or what it lacks. */
  summary?: string;
}

/** Where a run can go (the runs list): a kind (`local`) or a configured target (`ssh:gpu1`). */
export interface ILaunchTarget extends IBackend {
  /** Whether a run can be sent here as listed (the server decides). */
  launchable: boolean;
  /** For a kind that runs only on a configured target and has none: how to add one. */
  setup: string | null;
}

export interface IFsckReport {
  ok: boolean;
  checked: number;
  corrupt: string[];
  missing: { object: string; ref: string }[];
  unreadable_refs: string[];
  temp_files: number;
  finished_at: number;
}

export interface IGcReport {
  removed_objects: number;
  removed_temp_files: number;
  freed_bytes: number;
  kept_recent: number;
}

export interface IStatus {
  version: string;
  project: {
    root: string;
    state_dir: string;
    settings_sources: Record<string, string>;
  };
  tracking: { uri: string; embedded: boolean };
  store: { objects: number; bytes: number };
  fsck: IFsckReport | null;
  backends: IBackend[];
  /** Where the notebook's kernel runs (asked with `kernel=ID`): here, or the host a move took it to. */
  kernel?: {
    where: string;
    moved: boolean;
    text: string;
    /** A moved kernel brought home: the kernel at home that holds its state now. */
    home_kernel?: string;
  } | null;
}

export interface ISnapshotVariable {
  type: string | null;
  status: 'stored' | 'unstorable' | 'redacted';
  size: number | null;
  reason: string | null;
  cell: number | null;
}

export interface ISnapshot {
  id: string;
  created: number;
  message: string;
  auto: boolean;
  parent: string | null;
  variables: Record<string, ISnapshotVariable>;
  summary: {
    added?: string[];
    removed?: string[];
    changed?: string[];
    redacted?: string[];
  };
  warnings: string[];
  size: number;
  trusted?: boolean | null;
}

export interface ISnapshotDiff {
  a: string;
  b: string;
  added: string[];
  removed: string[];
  changed: { name: string; what: string }[];
  unchanged: number;
  cells_added: { count: number; source: string }[];
  packages: { name: string; a: string | null; b: string | null }[];
  python: [string, string] | null;
  git: [string | null, string | null] | null;
  /** The diff as every door prints it (header first): the panel shows these, it formats nothing. */
  lines: string[];
}

/** Where a run is in its life; the last four are terminal. */
export type RunState =
  | 'PENDING'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CANCELLED'
  | 'TIMED_OUT'
  | 'LOST';

export interface IRunError {
  message: string;
  cell?: number | null;
  label?: string;
  ename?: string;
  evalue?: string;
  traceback?: string;
}

export interface IRunTracking {
  run_id: string;
  experiment_id: string;
  tracking_uri: string;
  status?: string;
}

/** One execution of a notebook (`notebook` is relative to its project). */
export interface IRun {
  id: string;
  notebook: string;
  backend: string;
  state: RunState;
  parameters: Record<string, unknown>;
  /** Each parameter as text the server reads back as the same value (what the dialog shows). */
  parameter_text: Record<string, string>;
  created: number;
  started: number | null;
  finished: number | null;
  duration: number | null;
  error: IRunError | null;
  mlflow: IRunTracking | null;
  executed: string | null;
  bundle: string;
  timeout: number | null;
  /** USD, worded by Python: what it spent (`text`), a warning past 80% of its budget; null: no price. */
  cost?: IRunCost | null;
}

export interface IRunCost {
  hourly: number;
  budget: number | null;
  estimate: number | null;
  estimate_text: string;
  spent: number | null;
  text: string;
  warning: string;
}

export interface IRunList {
  runs: IRun[];
  backends: ILaunchTarget[];
  default_backend: string;
}

/** A run event, as nblift's published vocabulary defines it (generated: runEvents.ts). */
export type IRunEvent = RunEvent;

export interface IRunEvents {
  events: IRunEvent[];
  next: number;
  run: IRun;
}

export interface INotebookParameter {
  /** The default as written in the notebook (Python source). */
  default: string | null;
  type: string | null;
  help: string;
}

export interface ILaunchRequest {
  notebook: string;
  backend?: string | null;
  /** Typed values, for programs. */
  parameters?: Record<string, unknown> | null;
  /** What a person typed per parameter; the server parses it (as `-p NAME=VALUE`). */
  parameter_text?: Record<string, string> | null;
  timeout?: string | number | null;
  /** USD, as typed: the run stops when it has cost this much (default: the target's max_cost). */
  budget?: string | number | null;
  /** The caller's id for this launch: sent again, it returns the run it started. */
  submission_id?: string | null;
}

export const TERMINAL_STATES: ReadonlySet<RunState> = new Set<RunState>([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'TIMED_OUT',
  'LOST'
]);

export interface IVersion {
  version: string;
  api: number;
}

/** An error answered by the nblift server extension (or the lack of one). */
export class NbliftAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly hint: string | null = null
  ) {
    super(message);
    this.name = 'NbliftAPIError';
  }
}

/**
 * Call the nblift REST API (`/nblift/api/<endpoint>`).
 *
 * Errors come back as NbliftAPIError carrying the server's message and hint.
 */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<T> {
  const response = await openAPI(endpoint, init, query);
  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    throw answeredError(response, data);
  }
  return data as T;
}

/**
 * Open a request to the nblift REST API and resolve with the raw response (for streams);
 * a failed connection becomes an NbliftAPIError. The caller checks `ok`.
 */
export async function openAPI(
  endpoint: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<Response> {
  const settings = ServerConnection.makeSettings();
  const params = new URLSearchParams(query).toString();
  const url =
    URLExt.join(settings.baseUrl, 'nblift', 'api', endpoint) +
    (params ? `?${params}` : '');
  try {
    return await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    if (init.signal?.aborted) {
      throw error;
    }
    throw new NbliftAPIError(
      `cannot reach the Jupyter server: ${String(error)}`,
      0
    );
  }
}

/** The NbliftAPIError a failed response stands for (`data`: its parsed JSON body, if any). */
export function answeredError(
  response: Response,
  data: unknown
): NbliftAPIError {
  if (response.status === 404 && data === null) {
    return new NbliftAPIError(
      'the nblift server extension is not installed or not enabled on this Jupyter server',
      404,
      'run `pip install nblift` in the environment that runs the server, then restart it ' +
        '(`jupyter server extension list` should show nblift enabled)'
    );
  }
  const body = (data ?? {}) as { message?: string; hint?: string | null };
  return new NbliftAPIError(
    body.message ?? `${response.status} ${response.statusText}`,
    response.status,
    body.hint ?? null
  );
}

export interface IServerCheck {
  ok: boolean;
  message: string;
}

/** Compare the server extension's version with this frontend's and say plainly what is wrong. */
export async function checkServer(): Promise<IServerCheck> {
  try {
    const server = await requestAPI<IVersion>('version');
    if (server.version !== FRONTEND_VERSION) {
      return {
        ok: false,
        message:
          `nblift versions differ: the server extension is ${server.version}, ` +
          `this JupyterLab extension is ${FRONTEND_VERSION}. Reinstall nblift in the ` +
          'server environment and restart JupyterLab.'
      };
    }
    return { ok: true, message: `nblift ${server.version}` };
  } catch (error) {
    const err = error as NbliftAPIError;
    const hint = err.hint ? ` ${err.hint}.` : '';
    return { ok: false, message: `${err.message}.${hint}` };
  }
}

/** An MLflow experiment of the project's tracking store. */
export interface IExperiment {
  id: string;
  name: string;
  /** Active runs; null when a tracking server does not say. */
  runs: number | null;
  /** Milliseconds since the epoch. */
  last_update: number | null;
}

export interface IExperimentList {
  tracking_uri: string;
  experiments: IExperiment[];
  /** The experiment the project's runs go into (by name; it may not exist yet). */
  project_experiment?: string;
}

/** An MLflow run's status. */
export type TrackedStatus =
  'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

/** An MLflow run as a row of the runs table (times in milliseconds). */
export interface ITrackedRun {
  run_id: string;
  name: string | null;
  status: TrackedStatus;
  start_time: number | null;
  end_time: number | null;
  experiment_id: string;
  params: Record<string, string>;
  /** Latest values; null where the latest value is NaN. */
  metrics: Record<string, number | null>;
  tags: Record<string, string>;
}

export interface ITrackedRunPage {
  runs: ITrackedRun[];
  next_page_token: string | null;
  /** Runs matching the filter; null when a tracking server does not say. */
  total: number | null;
  keys: { params: string[]; metrics: string[] };
}

export interface IArtifact {
  path: string;
  is_dir: boolean;
  size: number | null;
}

/** Where a tracked run came from. */
export interface ILineage {
  notebook: string | null;
  git_commit: string | null;
  snapshot: string | null;
  lock: string | null;
  nblift_run: string | null;
}

export interface ITrackedRunDetail {
  /** The run with all its tags and its artifacts. */
  run: ITrackedRun & { artifacts: IArtifact[] };
  lineage: ILineage;
}

/** A metric's history: [step, value, timestamp in ms] per point. */
export type MetricPoint = [number, number, number];

export interface IComparison {
  runs: ITrackedRun[];
  params: {
    key: string;
    values: Record<string, string | null>;
    differs: boolean;
  }[];
  /** metric -> run id -> points (thinned by the server). */
  metrics: Record<string, Record<string, MetricPoint[]>>;
}

/** A registered model as the Registry view lists it (`updated` in seconds since the epoch). */
export interface IRegisteredModel {
  name: string;
  description: string;
  /** alias -> version */
  aliases: Record<string, string>;
  latest_version: string | null;
  updated: number | null;
}

export interface IModelList {
  models: IRegisteredModel[];
  /** Aliases a promotion policy gates (moved only by promote). */
  gated_aliases: string[];
}

/** One version of a registered model (`created` in seconds since the epoch). */
export interface IModelVersion {
  version: string;
  created: number | null;
  run_id: string | null;
  status: string | null;
  description?: string;
  aliases: string[];
  flavor: string | null;
  registered_by: string | null;
  /** alias -> "passed" or "failed: ..." from the last evaluation of its gates. */
  gates: Record<string, string>;
}

export interface IModelVersions {
  name: string;
  description?: string;
  aliases: Record<string, string>;
  /** Newest first. */
  versions: IModelVersion[];
  gated_aliases: string[];
}

/** What a lineage node stands for. */
export type LineageKind =
  | 'version'
  | 'run'
  | 'nblift_run'
  | 'notebook'
  | 'snapshot'
  | 'environment'
  | 'data'
  | 'git';

export interface ILineageNode {
  key: string;
  kind: LineageKind;
  id: string;
  label: string;
  [extra: string]: unknown;
}

export interface ILineageEdge {
  from: string;
  to: string;
  label: string;
}

export interface ILineageGraph {
  nodes: ILineageNode[];
  edges: ILineageEdge[];
}

/** One entry of the registry's audit trail (`time` in seconds since the epoch). */
export interface IAuditEntry {
  seq: number;
  time: number;
  who: string;
  action: string;
  model: string;
  version: string | null;
  alias: string | null;
  reason: string | null;
  details?: Record<string, unknown>;
}

export interface IAuditTrail {
  /** Oldest first. */
  entries: IAuditEntry[];
  /** Entries edited, removed or reordered since they were written. */
  problems: string[];
}

export interface IModelVersionDetail extends IModelVersion {
  name: string;
  uri: string;
  source: string;
  tags: Record<string, string>;
  params: Record<string, string>;
  metrics: Record<string, number | null>;
  run_name: string | null;
  experiment_id: string | null;
  lineage: ILineageGraph;
  audit: IAuditEntry[];
}

export interface IGate {
  kind: string;
  label: string;
  passed: boolean;
  /** The numbers behind the verdict. */
  detail: string;
}

/** A quality gate's verdict as `nblift check` records it (`nblift.gates.check.Verdict`). */
export interface IVerdict {
  kind: string;
  label: string;
  passed: boolean;
  detail: string;
}

/** The alias's quality gates run for a version, and every gate evaluated after (`POST .../check`). */
export interface ICheckResult {
  name: string;
  version: string;
  alias: string;
  passed: boolean;
  verdicts: IVerdict[];
  gates: IGate[];
  reports: string[];
}

/** Gates evaluated for an alias, and whether the alias moved. */
export interface IPromotion {
  name: string;
  version: string;
  alias: string;
  gates: IGate[];
  passed: boolean;
  promoted: boolean;
  overridden: boolean;
  previous: string | null;
  reason: string | null;
}

export interface IAliasChange {
  name: string;
  alias: string;
  version: string | null;
  previous: string | null;
}

/** The fields of a model card people fill in. */
export interface ICardFields {
  intended_use: string;
  limitations: string;
  ethical_considerations: string;
}

export interface IModelCard {
  name: string;
  version: string;
  card: { title: string; fields: ICardFields; [part: string]: unknown };
  markdown: string;
  /** A whole HTML page: shown only in a sandboxed iframe. */
  html: string;
  saved?: string[];
}

/** The REST path of a registered model (and one of its versions, and what follows). */
function registryPath(
  name: string,
  version?: string,
  ...rest: string[]
): string {
  const parts = ['registry', 'models', encodeURIComponent(name)];
  if (version !== undefined) {
    parts.push('versions', encodeURIComponent(version));
  }
  return [...parts, ...rest].join('/');
}

function post(body: unknown): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/**
 * The registry's REST API for one project (`query` names it, as `?path=` does for every panel).
 */
export const registryAPI = {
  models: (query: Record<string, string>): Promise<IModelList> =>
    requestAPI<IModelList>('registry/models', {}, query),

  model: (
    name: string,
    query: Record<string, string>
  ): Promise<IModelVersions> =>
    requestAPI<IModelVersions>(registryPath(name), {}, query),

  /** Point an ungated alias at `version`; null removes it. */
  setAlias: (
    name: string,
    alias: string,
    version: string | null,
    query: Record<string, string>
  ): Promise<IAliasChange> =>
    requestAPI<IAliasChange>(
      registryPath(name) + '/aliases',
      post({ alias, version }),
      query
    ),

  version: (
    name: string,
    version: string,
    query: Record<string, string>
  ): Promise<IModelVersionDetail> =>
    requestAPI<IModelVersionDetail>(registryPath(name, version), {}, query),

  /** The alias's gates evaluated for the version; nothing changes. */
  gates: (
    name: string,
    version: string,
    alias: string,
    query: Record<string, string>
  ): Promise<IPromotion> =>
    requestAPI<IPromotion>(
      registryPath(name, version, 'gates'),
      {},
      {
        ...query,
        alias
      }
    ),

  /** Run the alias's quality gates for the version; their verdicts go into the audit trail. */
  check: (
    name: string,
    version: string,
    alias: string,
    query: Record<string, string>
  ): Promise<ICheckResult> =>
    requestAPI<ICheckResult>(
      registryPath(name, version, 'check'),
      post({ alias }),
      query
    ),

  /** Promote when the gates pass, or with an override reason although they fail. */
  promote: (
    name: string,
    version: string,
    alias: string,
    overrideReason: string | null,
    query: Record<string, string>
  ): Promise<IPromotion> =>
    requestAPI<IPromotion>(
      registryPath(name, version, 'promote'),
      post(
        overrideReason === null
          ? { alias }
          : { alias, override_reason: overrideReason }
      ),
      query
    ),

  /** Approve (or reject, which needs a reason) the version for the alias. */
  decide: (
    name: string,
    version: string,
    alias: string,
    approve: boolean,
    reason: string | null,
    query: Record<string, string>
  ): Promise<IAuditEntry> =>
    requestAPI<IAuditEntry>(
      registryPath(name, version, approve ? 'approve' : 'reject'),
      post(reason === null ? { alias } : { alias, reason }),
      query
    ),

  card: (
    name: string,
    version: string,
    query: Record<string, string>
  ): Promise<IModelCard> =>
    requestAPI<IModelCard>(registryPath(name, version, 'card'), {}, query),

  saveCard: (
    name: string,
    version: string,
    fields: Partial<ICardFields>,
    query: Record<string, string>
  ): Promise<IModelCard> =>
    requestAPI<IModelCard>(
      registryPath(name, version, 'card'),
      post({ fields }),
      query
    ),

  audit: (model: string, query: Record<string, string>): Promise<IAuditTrail> =>
    requestAPI<IAuditTrail>('registry/audit', {}, { ...query, model })
};

/** What a run would cost (`GET runs/estimate`), worded by Python. */
export interface IEstimate {
  hourly: number | null;
  expected_seconds: number | null;
  cost: number | null;
  budget: number | null;
  prices_as_of: string | null;
  text: string;
}
