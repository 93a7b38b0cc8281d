import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { StatusModel, StatusPanel } from './components/StatusPanel';
import { nbliftIcon } from './icons';

const PLUGIN_ID = 'nblift:plugin';

/** Open the nblift sidebar. */
export const CommandIDs = { open: 'nblift:open-sidebar' };

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'nblift sidebar: project, tracking store, object store and backends.',
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const model = new StatusModel();
    const panel = new StatusPanel(model);
    panel.id = 'nblift-sidebar';
    panel.title.icon = nbliftIcon;
    panel.title.caption = 'nblift';
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, 'nblift-sidebar');

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show nblift',
      execute: () => app.shell.activateById(panel.id)
    });

    notebooks?.currentChanged.connect((_, current) => {
      model.path = current?.context.path ?? '';
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

export default plugin;
