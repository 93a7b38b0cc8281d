import { PageConfig } from '@jupyterlab/coreutils';
import { Contents } from '@jupyterlab/services';

import {
  IAuditTrail,
  ICardFields,
  ICheckResult,
  ILineageNode,
  IModelCard,
  IModelVersionDetail,
  IModelVersions,
  IPromotion,
  IRegisteredModel,
  registryAPI
} from '../api';
import { describeError, ProjectModel } from './model';
import { locateNotebook } from './RunsModel';

/** Lineage nodes another view of the sidebar shows. */
export type RevealKind = 'run' | 'nblift_run' | 'snapshot' | 'environment';

/** What the Registry view needs from the application. */
export interface IRegistryHost {
  /** The contents API, to find a version's notebook under the server root. */
  contents: Contents.IManager;
  /** Open a notebook (path relative to the server root). */
  open(path: string): Promise<void>;
  /** Show a lineage node in its own view (a run's detail, the snapshot list, the environment). */
  reveal(kind: RevealKind, id: string): Promise<void>;
}

const REVEALED: ReadonlySet<string> = new Set<RevealKind>([
  'run',
  'nblift_run',
  'snapshot',
  'environment'
]);

/** Whether clicking a lineage node opens something (data and git nodes copy their id instead). */
export function opensView(node: ILineageNode): boolean {
  return REVEALED.has(node.kind) || node.kind === 'notebook';
}

/** The alias whose gates are shown first: champion when gated, else the first gated alias. */
function defaultAlias(gated: string[]): string {
  return gated.includes('champion') || gated.length === 0
    ? 'champion'
    : gated[0];
}

/** What a promotion did, in words. */
function promotionMessage(p: IPromotion): string {
  const target = `${p.name}@${p.alias}`;
  const was = p.previous ? ` (was v${p.previous})` : '';
  if (p.overridden) {
    return `${target} → v${p.version}: overridden (gates failed; reason: ${p.reason ?? ''})${was}`;
  }
  return `${target} → v${p.version}: promoted${was}`;
}

/** What running an alias's quality gates found, in words. */
function checkMessage(r: ICheckResult): string {
  const ran = r.verdicts.length;
  if (ran === 0) {
    return `${r.name}@${r.alias} has no quality gates to run (data, behaviour, drift): nothing ran`;
  }
  const failed = r.verdicts.filter(v => !v.passed).map(v => v.kind);
  const outcome =
    failed.length === 0 ? 'all passed' : `failed: ${failed.join(', ')}`;
  return `${ran} quality gate${ran === 1 ? '' : 's'} of ${r.alias} ran for v${r.version}: ${outcome} (recorded in the audit trail)`;
}

/**
 * State of the Registry view: the project's registered models, one model's versions and audit trail, and one
 * version opened with its gates, lineage and model card. Every change is a POST, then what it touched reloads.
 */
export class RegistryModel extends ProjectModel {
  constructor(
    private readonly _host: IRegistryHost,
    private readonly _serverRoot: string = PageConfig.getOption('serverRoot')
  ) {
    super();
  }

  /** The project's folder (absolute, as the status reports it): locates the version's notebook. */
  set projectRoot(value: string | null) {
    this._projectRoot = value;
  }

  get models(): IRegisteredModel[] {
    return this._models;
  }
  /** Aliases the project's promotion policy gates. */
  get gatedAliases(): string[] {
    return this._gated;
  }
  /** The selected model with its versions; null when none is selected. */
  get model(): IModelVersions | null {
    return this._model;
  }
  /** The selected model's audit trail. */
  get audit(): IAuditTrail | null {
    return this._audit;
  }
  /** The opened version. */
  get detail(): IModelVersionDetail | null {
    return this._detail;
  }
  /** The alias whose gates are evaluated for the opened version. */
  get alias(): string {
    return this._alias;
  }
  /** The gates of `alias` evaluated for the opened version (nothing changed). */
  get gates(): IPromotion | null {
    return this._gates;
  }
  /** The last promotion tried on the opened version when its gates blocked it. */
  get blocked(): IPromotion | null {
    return this._blocked;
  }
  get card(): IModelCard | null {
    return this._card;
  }
  /** Why the model card could not be read (the rest of the version still shows). */
  get cardError(): string | null {
    return this._cardError;
  }
  /** What the last change did. */
  get message(): string | null {
    return this._message;
  }
  /** Counts the versions opened: the detail comes into sight at each. */
  get opened(): number {
    return this._opened;
  }

  /** Reload the models, and the model and version shown when they are still there. */
  async refresh(): Promise<void> {
    await this.work(null, () => this._reload());
  }

  /** Show a model's versions and audit trail; the selected one again (or null) closes it. */
  async select(name: string | null): Promise<void> {
    this._clearVersion();
    if (name === null || name === this._model?.name) {
      this._model = null;
      this._audit = null;
      this.emit();
      return;
    }
    this._selecting = name;
    await this.work('Loading the model', async () => {
      const [model, audit] = await this._fetchModel(name);
      if (this._selecting === name) {
        this._model = model;
        this._audit = audit;
      }
    });
  }

  /** Open a version of the selected model; the open one again (or null) closes it. */
  async openVersion(version: string | null): Promise<void> {
    const name = this._model?.name;
    if (!name || version === null || version === this._detail?.version) {
      this._clearVersion();
      this.emit();
      return;
    }
    this._clearVersion();
    if (!this._gated.includes(this._alias)) {
      this._alias = defaultAlias(this._gated);
    }
    this._opening = version;
    await this.work('Loading the version', async () => {
      await this._loadVersion(name, version);
      this._opened += 1;
    });
  }

  /** Evaluate the gates of another alias for the opened version. */
  async chooseAlias(alias: string): Promise<void> {
    const detail = this._detail;
    this._alias = alias;
    this._blocked = null;
    this.emit();
    if (detail) {
      await this.work('Evaluating the gates', async () => {
        this._gates = await registryAPI.gates(
          detail.name,
          detail.version,
          alias,
          this.query()
        );
      });
    }
  }

  /** Move the alias to the opened version through its gates (or past them, with a reason). */
  async promote(overrideReason: string | null = null): Promise<void> {
    await this._change(
      overrideReason === null ? 'Promoting' : 'Overriding the gates',
      async (name, version) => {
        const result = await registryAPI.promote(
          name,
          version,
          this._alias,
          overrideReason,
          this.query()
        );
        this._blocked = result.promoted ? null : result; // shown with its failing gates
        return result.promoted ? promotionMessage(result) : null;
      }
    );
  }

  /**
   * Run the alias's quality gates (data schema, behaviour cases, drift) for the opened version: their
   * verdicts go into the audit trail and the gates shown are evaluated again with them; nothing moves.
   */
  async runGates(): Promise<void> {
    await this._change('Running the gates', async (name, version) => {
      const result = await registryAPI.check(
        name,
        version,
        this._alias,
        this.query()
      );
      this._blocked = null;
      return checkMessage(result);
    });
  }

  /** Approve (or reject, with a reason) the opened version for the alias, as the logged-in user. */
  async decide(approve: boolean, reason: string | null = null): Promise<void> {
    await this._change(
      approve ? 'Approving' : 'Rejecting',
      async (name, version) => {
        const entry = await registryAPI.decide(
          name,
          version,
          this._alias,
          approve,
          reason,
          this.query()
        );
        this._blocked = null;
        return `${entry.who} ${approve ? 'approved' : 'rejected'} v${version} for ${this._alias}`;
      }
    );
  }

  /** Point an ungated alias at the opened version, or remove it (`here` false). */
  async setAlias(alias: string, here: boolean): Promise<void> {
    const text = alias.trim();
    if (here && this._gated.includes(text)) {
      this.fail(
        `alias ${text} is gated by the promotion policy: use Promote (its gates decide)`
      );
      return;
    }
    await this._change(
      here ? 'Setting the alias' : 'Removing the alias',
      async (name, version) => {
        const change = await registryAPI.setAlias(
          name,
          text,
          here ? version : null,
          this.query()
        );
        return change.version === null
          ? `${name}@${change.alias} removed (was v${change.previous ?? '?'})`
          : `${name}@${change.alias} → v${change.version}`;
      }
    );
  }

  /** Fill the card's fields, regenerate and save it with the model. */
  async saveCard(fields: Partial<ICardFields>): Promise<void> {
    await this._change('Saving the model card', async (name, version) => {
      this._card = await registryAPI.saveCard(
        name,
        version,
        fields,
        this.query()
      );
      this._cardError = null;
      return `model card of ${name} v${version} saved`;
    });
  }

  /** Open what a lineage node stands for in its own view. */
  async openNode(node: ILineageNode): Promise<void> {
    if (node.kind === 'notebook') {
      await this.work(null, async () => {
        const path = await locateNotebook(
          this._host.contents,
          this._serverRoot,
          this._projectRoot,
          node.id
        );
        if (path === null) {
          throw new Error(
            `${node.id} is not under the Jupyter server's root folder (moved or deleted?)`
          );
        }
        await this._host.open(path);
      });
    } else if (REVEALED.has(node.kind)) {
      await this.work(null, () =>
        this._host.reveal(node.kind as RevealKind, node.id)
      );
    }
  }

  /**
   * Make a change to the opened version (`change` says what it did, if anything needs saying), then reload the models, the model's
   * versions and audit trail and the version: its aliases, gates and audit entries moved.
   */
  private async _change(
    label: string,
    change: (name: string, version: string) => Promise<string | null>
  ): Promise<void> {
    const detail = this._detail;
    if (!detail) {
      return;
    }
    this._message = null;
    await this.work(label, async () => {
      const message = await change(detail.name, detail.version);
      this._message = message;
      await this._reload();
    });
  }

  private async _reload(): Promise<void> {
    const reply = await registryAPI.models(this.query());
    this._models = reply.models;
    this._gated = reply.gated_aliases;
    const name = this._model?.name;
    if (!name || !reply.models.some(m => m.name === name)) {
      this._model = null;
      this._audit = null;
      this._clearVersion();
      return;
    }
    const [model, audit] = await this._fetchModel(name);
    this._model = model;
    this._audit = audit;
    const version = this._detail?.version;
    if (version && model.versions.some(v => v.version === version)) {
      await this._loadVersion(name, version);
    } else {
      this._clearVersion();
    }
  }

  private async _fetchModel(
    name: string
  ): Promise<[IModelVersions, IAuditTrail]> {
    return Promise.all([
      registryAPI.model(name, this.query()),
      registryAPI.audit(name, this.query())
    ]);
  }

  /** The version's detail, its gates for the alias and its card (a card that fails to load says why). */
  private async _loadVersion(name: string, version: string): Promise<void> {
    const query = this.query();
    const card = registryAPI.card(name, version, query).then(
      card => ({ card, error: null }),
      (error: unknown) => ({ card: null, error: describeError(error) })
    );
    const [detail, gates, loaded] = await Promise.all([
      registryAPI.version(name, version, query),
      registryAPI.gates(name, version, this._alias, query),
      card
    ]);
    if (this._model?.name !== name || this._opening !== version) {
      return; // another version was opened meanwhile
    }
    this._detail = detail;
    this._gates = gates;
    this._card = loaded.card;
    this._cardError = loaded.error;
  }

  private _clearVersion(): void {
    this._opening = null;
    this._detail = null;
    this._gates = null;
    this._blocked = null;
    this._card = null;
    this._cardError = null;
    this._message = null;
  }

  private _projectRoot: string | null = null;
  private _models: IRegisteredModel[] = [];
  private _gated: string[] = [];
  private _model: IModelVersions | null = null;
  private _selecting: string | null = null;
  private _audit: IAuditTrail | null = null;
  private _detail: IModelVersionDetail | null = null;
  private _opening: string | null = null;
  private _alias = 'champion';
  private _gates: IPromotion | null = null;
  private _blocked: IPromotion | null = null;
  private _card: IModelCard | null = null;
  private _cardError: string | null = null;
  private _message: string | null = null;
  private _opened = 0;
}
