import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';

const SIDEBAR = 'nblift-sidebar';
const EXAMPLE = path.resolve(__dirname, '../../../examples/runs.ipynb');
/** Code cells in examples/runs.ipynb; a run adds the injected parameters cell to them. */
const CODE_CELLS = 7;

test.describe('nblift runs view', () => {
  test('Run on… runs the notebook in a fresh kernel, shows its progress and opens the executed copy', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    await page.contents.uploadFile(EXAMPLE, `${tmpPath}/runs.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/runs.ipynb`);
    await page.notebook.activate('runs.ipynb');

    await page.getByRole('button', { name: 'Run on…' }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog.getByLabel('Backend')).toHaveValue('local');
    const epochs = dialog.getByLabel('epochs');
    await expect(epochs).toHaveValue('5'); // the notebook's default
    await epochs.fill('3');
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await expect(dialog).toHaveCount(0);

    // The sidebar opens on the new run and follows it to the end.
    const panel = page.locator(`#${SIDEBAR}`);
    const run = panel.getByRole('region', { name: /^run [0-9a-f]{12}$/ });
    await expect(run).toBeVisible();
    await expect(run.locator('.jp-nblift-subtitle .jp-nblift-state')).toHaveText(
      'SUCCEEDED',
      { timeout: 180000 }
    );
    await expect(run.getByRole('table', { name: 'run' })).toContainText(
      'epochs=3'
    );
    await expect(run.getByTestId('nblift-run-cells')).toHaveText(
      `${CODE_CELLS} of ${CODE_CELLS} cells`
    );
    const cells = run
      .getByRole('list', { name: 'cell progress' })
      .getByRole('listitem');
    await expect(cells).toHaveCount(CODE_CELLS + 1);
    for (const cell of await cells.all()) {
      await expect(cell).toHaveAttribute('data-status', 'done');
    }
    await expect(run.getByTestId('nblift-metric-loss')).toBeVisible();
    await expect(run.getByRole('log', { name: 'run output' })).toContainText(
      'epoch 2: loss='
    );
    await run.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('runs-panel.png') });

    // The executed copy comes back into the project and opens in a new tab.
    await run.getByRole('button', { name: 'Open executed notebook' }).click();
    const current = page.locator(
      '#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current'
    );
    await expect(current).toHaveAttribute(
      'title',
      /nblift-runs\/[0-9a-f]{12}\/runs\.ipynb/,
      { timeout: 60000 }
    );
    await expect(
      page
        .locator('.jp-NotebookPanel .jp-OutputArea-output')
        .filter({ hasText: 'epoch 2:' })
    ).toBeVisible({ timeout: 60000 });
  });
});
