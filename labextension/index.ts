import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';

import { IRun } from './api';
import { StatusModel, StatusPanel } from './components/StatusPanel';
import { KernelRunner, SnapshotsModel } from './components/SnapshotsView';
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

const PLUGIN_ID = 'nblift:plugin';

/** Open the nblift sidebar; run the current notebook in a fresh kernel (the toolbar's "Run on…"). */
export const CommandIDs = {
  open: 'nblift:open-sidebar',
  runNotebook: 'nblift:run-notebook',
  moveNotebook: 'nblift:move-notebook'
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'nblift sidebar: project, tracking store, object store and backends.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    INotebookTracker,
    ISettingRegistry,
    IStateDB,
    ICommandPalette
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    settingRegistry: ISettingRegistry | null,
    state: IStateDB | null,
    palette: ICommandPalette | null
  ) => {
    const model = new StatusModel();
    const snapshots = new SnapshotsModel();
    const environments = new EnvironmentsModel();
    const choices = choiceStore(state);
    const launch = async (
      notebook: string,
      from: IRun | null = null
    ): Promise<void> => {
      try {
        const run = await launchRun(notebook, choices, from);
        if (run) {
          app.shell.activateById(panel.id);
          runs.launched(run);
        }
      } catch (error) {
        void showErrorMessage('Cannot run the notebook', describeError(error));
      }
    };
    const runs = new RunsModel({
      contents: app.serviceManager.contents,
      open: async path => {
        // In a notebook tab of the main area: the nblift sidebar stays where it is.
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
        app.shell.activateById(panel.id);
        if (kind === 'run') {
          await experiments.show(id);
        } else if (kind === 'nblift_run') {
          await runs.show(id);
        } else if (kind === 'snapshot') {
          await snapshots.reveal(id);
        } else {
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
    const panel = new StatusPanel(
      model,
      snapshots,
      environments,
      runs,
      experiments,
      registry
    );
    panel.id = 'nblift-sidebar';
    panel.title.icon = nbliftIcon;
    panel.title.caption = 'nblift';
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, 'nblift-sidebar');

    // The views follow the kernel (`%lift snapshot`, `%lift run`, `%pip install` in a cell): no Refresh.
    const follower = new KernelFollower({
      views: [snapshots, runs, environments],
      isVisible: () => panel.isVisible
    });
    NotebookActions.executed.connect(() => follower.nudge());

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show nblift',
      execute: () => app.shell.activateById(panel.id)
    });

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
        await moveSession(
          current.context.path,
          kernelName(),
          kernelRunner(current)
        );
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
    notebooks?.currentChanged.connect((_, current) => {
      follow(current?.context.path ?? '');
      snapshots.runner = current ? kernelRunner(current) : null;
      environments.kernelId = current
        ? () => current.sessionContext.session?.kernel?.id ?? null
        : null;
      experiments.runner = current ? kernelRunner(current) : null;
      current?.context.pathChanged.connect(onRename);
      app.commands.notifyCommandChanged(CommandIDs.runNotebook);
      app.commands.notifyCommandChanged(CommandIDs.moveNotebook);
      current?.sessionContext.kernelChanged.connect(() =>
        app.commands.notifyCommandChanged(CommandIDs.moveNotebook)
      );
    });

    let refreshSeconds = 0;
    let timer: number | undefined;
    const schedule = (): void => {
      window.clearInterval(timer);
      if (refreshSeconds > 0) {
        timer = window.setInterval(() => {
          if (panel.isVisible && model.busy === null) {
            void model.refresh();
          }
        }, refreshSeconds * 1000);
      }
    };
    void app.restored.then(async () => {
      if (settingRegistry) {
        try {
          const settings = await settingRegistry.load(PLUGIN_ID);
          const apply = (): void => {
            refreshSeconds = settings.get('refreshSeconds').composite as number;
            schedule();
          };
          apply();
          settings.changed.connect(apply);
        } catch (reason) {
          console.error('nblift: cannot load settings', reason);
        }
      }
      await model.refresh();
    });
  }
};

/** Run code in a notebook's kernel and collect what it printed or displayed as text. */
function kernelRunner(notebook: NotebookPanel): KernelRunner {
  return async (code: string): Promise<string> => {
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
    let output = '';
    future.onIOPub = (msg: KernelMessage.IIOPubMessage): void => {
      const type = msg.header.msg_type;
      if (type === 'stream') {
        output += (msg.content as KernelMessage.IStreamMsg['content']).text;
      } else if (type === 'execute_result' || type === 'display_data') {
        const data = (msg.content as KernelMessage.IExecuteResultMsg['content'])
          .data;
        output += String(data['text/plain'] ?? '') + '\n';
      } else if (type === 'error') {
        const error = msg.content as KernelMessage.IErrorMsg['content'];
        output += `${error.ename}: ${error.evalue}\n`;
      }
    };
    const reply = await future.done;
    if (reply.content.status !== 'ok') {
      throw new Error(output.trim() || 'the kernel reported an error');
    }
    return output;
  };
}

export default plugin;
