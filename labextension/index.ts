import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  ISessionContext,
  Notification,
  showErrorMessage
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';

import { IRun, IStatus, requestAPI } from './api';
import { StatusModel, StatusPanel } from './components/StatusPanel';
import {
  KernelJsonRunner,
  KernelRunner,
  SnapshotsModel
} from './components/SnapshotsView';
import { EnvironmentsModel } from './components/EnvironmentsView';
import { choiceStore, launchRun } from './components/LaunchDialog';
import { describeError } from './components/model';
import { RunsModel } from './components/RunsModel';
import { ExperimentsModel } from './components/ExperimentsModel';
import { RegistryModel } from './components/RegistryModel';
import { columnStore } from './components/columns';
import { KernelFollower } from './follow';
import { isMovedKernel, moveSession } from './move';
import { nbliftIcon, runOnIcon } from './icons';
import {
  isViewKind,
  VIEW_KINDS,
  VIEW_TITLES,
  ViewKind,
  Workbench
} from './workbench';

const PLUGIN_ID = 'nblift:plugin';

/**
 * The sidebar; Run on… (the toolbar's button); Move to…; the main-area views (argument `view`:
 * experiments, runs or registry); a snapshot of the current notebook's kernel; a restore into it.
 */
export const CommandIDs = {
  open: 'nblift:open-sidebar',
  runNotebook: 'nblift:run-notebook',
  moveNotebook: 'nblift:move-notebook',
  openView: 'nblift:open-view',
  snapshot: 'nblift:snapshot-now',
  restore: 'nblift:restore-snapshot'
};

/** The extension's settings (schema/plugin.json), as read from the Settings Editor. */
interface ISettings {
  refreshSeconds: number;
  defaultBackend: string;
  defaultTarget: string;
  autosnapshot: boolean;
  defaultColumns: string[];
}

const DEFAULTS: ISettings = {
  refreshSeconds: 30,
  defaultBackend: '',
  defaultTarget: '',
  autosnapshot: false,
  defaultColumns: []
};

/** The backend a run goes to when a notebook has no remembered choice: `ssh:gpu-box`, `local`, or none. */
function preferredBackend(settings: ISettings): string {
  const backend = settings.defaultBackend.trim();
  const target = settings.defaultTarget.trim();
  return backend && target ? `${backend}:${target}` : backend;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'nblift: a sidebar navigator and main-area Experiments, Runs and Registry views.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    INotebookTracker,
    ISettingRegistry,
    IStateDB,
    ICommandPalette,
    ILauncher
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    settingRegistry: ISettingRegistry | null,
    state: IStateDB | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null
  ) => {
    const settings: ISettings = { ...DEFAULTS };
    const model = new StatusModel();
    const snapshots = new SnapshotsModel();
    const environments = new EnvironmentsModel();
    const choices = choiceStore(state);
    const launch = async (
      notebook: string,
      from: IRun | null = null
    ): Promise<void> => {
      try {
        const run = await launchRun(
          notebook,
          choices,
          from,
          preferredBackend(settings)
        );
        if (run) {
          runs.launched(run);
          await workbench.open('runs');
        }
      } catch (error) {
        void showErrorMessage('Cannot run the notebook', describeError(error));
      }
    };
    const runs = new RunsModel({
      contents: app.serviceManager.contents,
      open: async path => {
        // In a notebook tab of the main area, beside the Runs tab.
        await app.commands.execute('docmanager:open', {
          path,
          factory: 'Notebook'
        });
      },
      relaunch: launch
    });
    const experiments = new ExperimentsModel({
      contents: app.serviceManager.contents,
      open: async path => {
        await app.commands.execute('docmanager:open', { path });
      },
      columns: columnStore(state)
    });
    const registry = new RegistryModel({
      contents: app.serviceManager.contents,
      open: async path => {
        await app.commands.execute('docmanager:open', { path });
      },
      reveal: async (kind, id) => {
        if (kind === 'run') {
          await workbench.open('experiments');
          await experiments.show(id);
        } else if (kind === 'nblift_run') {
          await workbench.open('runs');
          await runs.show(id);
        } else if (kind === 'snapshot') {
          app.shell.activateById(panel.id);
          await snapshots.reveal(id);
        } else {
          app.shell.activateById(panel.id);
          await environments.reveal(id);
        }
      }
    });
    model.changed.connect(() => {
      const root = model.status?.project.root ?? null;
      runs.projectRoot = root;
      experiments.projectRoot = root;
      registry.projectRoot = root;
    });

    const openView = (kind: ViewKind): void => {
      void app.commands.execute(CommandIDs.openView, { view: kind });
    };
    const panel = new StatusPanel(
      model,
      snapshots,
      environments,
      runs,
      openView
    );
    panel.id = 'nblift-sidebar';
    panel.title.icon = nbliftIcon;
    panel.title.caption = 'nblift';
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, 'nblift-sidebar');

    app.commands.addCommand(CommandIDs.openView, {
      label: args =>
        isViewKind(args.view)
          ? args.isLauncher
            ? VIEW_TITLES[args.view].label
            : `Open ${VIEW_TITLES[args.view].label}`
          : 'Open an nblift view',
      caption: args =>
        isViewKind(args.view) ? VIEW_TITLES[args.view].caption : '',
      icon: args => (args.isPalette ? undefined : nbliftIcon),
      execute: async args => {
        const view = args.view;
        if (!isViewKind(view)) {
          throw new Error(
            `no nblift view "${String(view)}": use one of ${VIEW_KINDS.join(', ')}`
          );
        }
        await workbench.open(view, args.activate !== false);
      }
    });
    const workbench = new Workbench(
      app,
      { experiments, runs, registry },
      CommandIDs.openView,
      restorer
    );
    VIEW_KINDS.forEach((view, rank) => {
      palette?.addItem({
        command: CommandIDs.openView,
        args: { view, isPalette: true },
        category: 'nblift'
      });
      launcher?.add({
        command: CommandIDs.openView,
        args: { view, isLauncher: true },
        category: 'nblift',
        rank
      });
    });

    // The views follow the kernel (`%lift snapshot`, `%lift run`, `%pip install` in a cell): no Refresh.
    const follower = new KernelFollower({
      views: [snapshots, runs, environments],
      isVisible: () => panel.isVisible || workbench.anyVisible
    });
    NotebookActions.executed.connect(() => follower.nudge());

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show nblift',
      execute: () => app.shell.activateById(panel.id)
    });
    palette?.addItem({ command: CommandIDs.open, category: 'nblift' });

    app.commands.addCommand(CommandIDs.runNotebook, {
      label: args => (args.toolbar ? 'Run on…' : 'Run notebook on…'),
      caption:
        'Save this notebook and run it top to bottom in a fresh kernel, here or on a remote backend',
      icon: runOnIcon,
      isEnabled: () => !!notebooks?.currentWidget,
      execute: async () => {
        const current = notebooks?.currentWidget;
        if (!current) {
          return;
        }
        try {
          await current.context.ready;
          await current.context.save();
        } catch (error) {
          void showErrorMessage(
            'Cannot save the notebook before running it',
            describeError(error)
          );
          return;
        }
        await launch(current.context.path);
      }
    });
    palette?.addItem({ command: CommandIDs.runNotebook, category: 'nblift' });

    /** What a snapshot action said: the kernel's report, or its failure. */
    const report = (what: string): void => {
      if (snapshots.error) {
        Notification.error(`${what}: ${snapshots.error}`, { autoClose: 8000 });
      } else if (snapshots.message) {
        Notification.success(snapshots.message, { autoClose: 5000 });
      }
    };
    const hasKernel = (): boolean =>
      !!notebooks?.currentWidget?.sessionContext.session?.kernel;
    app.commands.addCommand(CommandIDs.snapshot, {
      label: 'Snapshot now',
      caption:
        "Snapshot the current notebook's kernel: its variables, files and environment",
      isEnabled: hasKernel,
      execute: async () => {
        await snapshots.snapshot();
        report('Cannot take the snapshot');
      }
    });
    palette?.addItem({ command: CommandIDs.snapshot, category: 'nblift' });

    app.commands.addCommand(CommandIDs.restore, {
      label: 'Restore…',
      caption:
        "Restore one of this notebook's snapshots into its kernel (asks before overwriting variables)",
      isEnabled: hasKernel,
      execute: async () => {
        await snapshots.refresh();
        const listed = snapshots.snapshots;
        if (listed.length === 0) {
          Notification.info(
            'This notebook has no snapshots yet: Snapshot now (or %lift snapshot in a cell) takes one.',
            { autoClose: 8000 }
          );
          return;
        }
        const labels = listed.map(
          s =>
            `${s.id} · ${new Date(s.created * 1000).toLocaleString()}` +
            (s.message ? ` · ${s.message}` : s.auto ? ' · (auto)' : '')
        );
        const chosen = await InputDialog.getItem({
          title: 'Restore which snapshot?',
          items: labels,
          okLabel: 'Restore'
        });
        if (!chosen.button.accept || chosen.value === null) {
          return;
        }
        const id = listed[labels.indexOf(chosen.value)]?.id;
        if (id) {
          await snapshots.restore(id);
          report(`Cannot restore ${id}`);
        }
      }
    });
    palette?.addItem({ command: CommandIDs.restore, category: 'nblift' });

    const kernelName = (): string | null =>
      notebooks?.currentWidget?.sessionContext.session?.kernel?.name ?? null;
    app.commands.addCommand(CommandIDs.moveNotebook, {
      label: () => (isMovedKernel(kernelName()) ? 'Move back' : 'Move to…'),
      caption: () =>
        isMovedKernel(kernelName())
          ? 'Bring this session home: its variables come back into a kernel here'
          : 'Move this live session (variables, files, environment) to an SSH host; the notebook goes on there',
      isEnabled: () =>
        !!notebooks?.currentWidget?.sessionContext.session?.kernel,
      execute: async () => {
        const current = notebooks?.currentWidget;
        if (!current) {
          return;
        }
        try {
          await current.context.save();
        } catch (error) {
          void showErrorMessage(
            'Cannot save the notebook before moving it',
            describeError(error)
          );
          return;
        }
        await moveSession(current.context.path, kernelName(), {
          run: kernelRunner(current),
          runJson: kernelJsonRunner(current),
          // the tab switches its own session, so it follows the change as when a user picks a kernel
          switchTo: (id: string) => switchSession(current.sessionContext, id),
          specsChanged: () => app.serviceManager.kernelspecs.refreshSpecs(),
          homeKernel: async () => {
            const id = current.sessionContext.session?.kernel?.id;
            if (!id) {
              return null;
            }
            const status = await requestAPI<IStatus>(
              'status',
              {},
              { path: current.context.path, kernel: id }
            );
            return status.kernel?.home_kernel ?? null;
          }
        });
      }
    });
    palette?.addItem({ command: CommandIDs.moveNotebook, category: 'nblift' });

    const follow = (path: string): void => {
      model.path = path;
      snapshots.path = path;
      environments.path = path;
      runs.path = path;
      experiments.path = path;
      registry.path = path;
    };
    const onRename = (_: unknown, path: string): void => {
      if (notebooks?.currentWidget?.context.path === path) {
        follow(path);
      }
    };
    const refreshStatus = (): void => {
      void model.refresh();
    };
    const kernelCommands = (): void => {
      app.commands.notifyCommandChanged(CommandIDs.moveNotebook);
      app.commands.notifyCommandChanged(CommandIDs.snapshot);
      app.commands.notifyCommandChanged(CommandIDs.restore);
    };
    notebooks?.currentChanged.connect((_, current) => {
      follow(current?.context.path ?? '');
      snapshots.runner = current ? kernelRunner(current) : null;
      environments.kernelId = current
        ? () => current.sessionContext.session?.kernel?.id ?? null
        : null;
      model.kernelId = current
        ? () => current.sessionContext.session?.kernel?.id ?? null
        : null;
      experiments.runner = current ? kernelRunner(current) : null;
      current?.context.pathChanged.connect(onRename);
      app.commands.notifyCommandChanged(CommandIDs.runNotebook);
      kernelCommands();
      current?.sessionContext.kernelChanged.connect(kernelCommands);
      // a move switches the session's kernel: the status says where it runs now
      current?.sessionContext.kernelChanged.connect(refreshStatus);
    });

    // With the autosnapshot setting on, each notebook's kernel snapshots itself after cells (as
    // `%lift autosnapshot on` does), from when it starts.
    notebooks?.widgetAdded.connect((_, notebook) => {
      const turnOn = (): void => {
        const kernel = notebook.sessionContext.session?.kernel;
        if (!settings.autosnapshot || !kernel) {
          return;
        }
        void kernel.info
          .then(() => kernelRunner(notebook)('%lift autosnapshot on'))
          .catch(reason =>
            console.warn('nblift: cannot turn autosnapshot on', reason)
          );
      };
      void notebook.sessionContext.ready.then(turnOn);
      notebook.sessionContext.kernelChanged.connect(turnOn);
    });

    let timer: number | undefined;
    const schedule = (): void => {
      window.clearInterval(timer);
      if (settings.refreshSeconds > 0) {
        timer = window.setInterval(() => {
          if (panel.isVisible && model.busy === null) {
            void model.refresh();
          }
        }, settings.refreshSeconds * 1000);
      }
    };
    schedule();
    void app.restored.then(async () => {
      if (settingRegistry) {
        try {
          const loaded = await settingRegistry.load(PLUGIN_ID);
          const apply = (): void => {
            const read = loaded.composite as unknown as Partial<ISettings>;
            Object.assign(settings, DEFAULTS, read);
            experiments.preferredColumns = settings.defaultColumns;
            schedule();
          };
          apply();
          loaded.changed.connect(apply);
        } catch (reason) {
          console.error('nblift: cannot load settings', reason);
        }
      }
      await model.refresh();
    });
  }
};

/** How long a switch of a notebook's session waits for its kernel's connection. */
const SWITCH_TIMEOUT_MS = 30000;

/**
 * Switch the notebook's session to the kernel `id` and see its connection up: where the tab ends up on
 * another kernel (a session poll answered before the switch) it switches again, and where the new kernel's
 * websocket was closed under it, it connects again.
 */
async function switchSession(
  context: ISessionContext,
  id: string
): Promise<void> {
  await context.changeKernel({ id });
  const deadline = Date.now() + SWITCH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const kernel = context.session?.kernel;
    if (kernel?.id === id && kernel.connectionStatus === 'connected') {
      return;
    }
    await new Promise(resolve => setTimeout(resolve, 500));
    const now = context.session?.kernel;
    if (now?.id !== id) {
      await context.changeKernel({ id });
    } else if (now.connectionStatus === 'disconnected') {
      await now.reconnect();
    }
  }
}

/** The mimetype a `%lift ... --json` result also goes out as (`nblift.magics.lift.RESULT_MIME`). */
const RESULT_MIME = 'application/vnd.nblift.result+json';

/** What a cell run by nblift printed or displayed as text, and the JSON it displayed (`%lift ... --json`). */
interface IKernelOutput {
  text: string;
  json: unknown;
}

/** Run code in a notebook's kernel and collect what it printed or displayed. */
async function runInKernel(
  notebook: NotebookPanel,
  code: string
): Promise<IKernelOutput> {
  const kernel = notebook.sessionContext.session?.kernel;
  if (!kernel) {
    throw new Error('the notebook has no running kernel: start one first');
  }
  // Load the extension first if this kernel has not (the panels work on any notebook).
  const prelude =
    "if 'lift' not in get_ipython().magics_manager.magics['line']:\n" +
    "    get_ipython().run_line_magic('load_ext', 'nblift')\n";
  const future = kernel.requestExecute({
    code: prelude + code,
    store_history: false
  });
  let text = '';
  let json: unknown = undefined;
  future.onIOPub = (msg: KernelMessage.IIOPubMessage): void => {
    const type = msg.header.msg_type;
    if (type === 'stream') {
      text += (msg.content as KernelMessage.IStreamMsg['content']).text;
    } else if (type === 'execute_result' || type === 'display_data') {
      const data = (msg.content as KernelMessage.IExecuteResultMsg['content'])
        .data;
      text += String(data['text/plain'] ?? '') + '\n';
      if (data[RESULT_MIME] !== undefined) {
        json = data[RESULT_MIME];
      }
    } else if (type === 'error') {
      const error = msg.content as KernelMessage.IErrorMsg['content'];
      text += `${error.ename}: ${error.evalue}\n`;
    }
  };
  const reply = await future.done;
  if (reply.content.status !== 'ok') {
    throw new Error(text.trim() || 'the kernel reported an error');
  }
  return { text, json };
}

/** Run code in a notebook's kernel and collect what it printed or displayed as text. */
function kernelRunner(notebook: NotebookPanel): KernelRunner {
  return async (code: string): Promise<string> =>
    (await runInKernel(notebook, code)).text;
}

/** Run a `%lift ... --json` command in a notebook's kernel; the JSON it displayed. */
function kernelJsonRunner(notebook: NotebookPanel): KernelJsonRunner {
  return async (code: string): Promise<unknown> => {
    const { text, json } = await runInKernel(notebook, code);
    if (json === undefined) {
      throw new Error(text.trim() || 'the kernel displayed no JSON');
    }
    return json;
  };
}

export default plugin;
