import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';

import { openNewNotebook, runLast } from './notebook';
import { docScreenshot, SIDEBAR, viewTab } from './views';

const EXAMPLE = path.resolve(__dirname, '../../../examples/runs.ipynb');
/** Code cells in examples/runs.ipynb; a run adds the injected parameters cell to them. */
const CODE_CELLS = 7;

test.use({ viewport: { width: 1280, height: 800 } });

test.describe('nblift runs view', () => {
  test('Run on… runs the notebook in a fresh kernel, shows its progress and opens the executed copy', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    const streams: number[] = [];
    page.on('response', response => {
      if (response.url().includes('/events/stream')) {
        streams.push(response.status());
      }
    });
    await page.contents.uploadFile(EXAMPLE, `${tmpPath}/runs.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/runs.ipynb`);
    await page.notebook.activate('runs.ipynb');

    await page.getByRole('button', { name: 'Run on…' }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog.getByLabel('Backend')).toHaveValue('local');
    // Only what a run can go to is offered: no host or cluster is configured, so no bare `ssh` or `ray`
    // (which would fail); the dialog says how to add one instead.
    await expect(dialog.getByLabel('Backend').locator('option')).toHaveText([
      'local'
    ]);
    const toConfigure = dialog.getByRole('list', {
      name: 'targets to configure'
    });
    await expect(toConfigure).toContainText('[tool.nblift.ssh_hosts.NAME]');
    await expect(toConfigure).toContainText('[tool.nblift.ray_clusters.NAME]');
    const epochs = dialog.getByLabel('epochs');
    await expect(epochs).toHaveValue('5'); // the notebook's default
    await epochs.fill('3');
    await dialog.screenshot({ path: test.info().outputPath('dialog.png') });
    await dialog.screenshot({ path: '/tmp/nblift-run-dialog.png' });
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await expect(dialog).toHaveCount(0);

    // The Runs view opens in the main area on the new run and follows it to the end.
    const panel = viewTab(page, 'runs');
    const run = panel.getByRole('region', { name: /^run [0-9a-f]{12}$/ });
    await expect(run).toBeVisible();
    await expect(
      run.locator('.jp-nblift-subtitle .jp-nblift-state')
    ).toHaveText('SUCCEEDED', { timeout: 180000 });
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
    expect(streams).toContain(200); // live events came over the event stream
    // The MLflow run is made off the critical path: its ids arrive after the run ends.
    await expect(
      run.getByRole('button', { name: 'copy MLflow run id' })
    ).toBeVisible({ timeout: 60000 });
    await run.scrollIntoViewIfNeeded();
    await expect(run.getByRole('button', { name: 'Cancel' })).toHaveCount(0);
    await panel.screenshot({ path: test.info().outputPath('runs-panel.png') });
    await panel.locator('.jp-nblift-workbench').evaluate(el => {
      el.scrollTop = 0;
    });
    await page.sidebar.close();
    await docScreenshot(panel, 'runs.png');
    await panel.getByRole('region', { name: 'runs' }).scrollIntoViewIfNeeded();
    await panel
      .getByRole('list', { name: 'run list' })
      .screenshot({ path: test.info().outputPath('run-list.png') });

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
    // A notebook tab of its own in the main area: the Runs tab stays open beside it.
    await expect(
      page.locator('#jp-main-dock-panel .lm-TabBar-tab', {
        has: page.locator('.lm-TabBar-tabLabel', { hasText: /^Runs$/ })
      })
    ).toHaveCount(1);
  });

  test('a failing run names its cell; Re-run with other parameters starts from its values', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    await page.contents.uploadFile(EXAMPLE, `${tmpPath}/runs.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/runs.ipynb`);
    await page.notebook.activate('runs.ipynb');
    const dialog = page.locator('.jp-Dialog');
    const panel = viewTab(page, 'runs');
    const run = panel.getByRole('region', { name: /^run [0-9a-f]{12}$/ });
    const state = run.locator('.jp-nblift-subtitle .jp-nblift-state');

    // A learning rate this large overflows on the second epoch (cell 6).
    await page.getByRole('button', { name: 'Run on…' }).click();
    await dialog.getByLabel('learning_rate').fill('1e100');
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await expect(state).toHaveText('FAILED', { timeout: 180000 });
    const error = run.getByLabel('run error');
    await expect(error).toContainText('cell 6');
    await expect(error).toContainText('OverflowError');
    const cells = run.getByRole('list', { name: 'cell progress' });
    await expect(cells.locator('[data-status="error"]')).toHaveCount(1);
    await expect(cells.locator('[data-status="pending"]')).toHaveCount(3);
    await run.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: test.info().outputPath('failed-run.png') });

    // The toolbar's dialog remembers what was typed for this notebook (back in the notebook's tab).
    await page.notebook.activate('runs.ipynb');
    await page.getByRole('button', { name: 'Run on…' }).click();
    await expect(dialog.getByLabel('learning_rate')).toHaveValue('1e100');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toHaveCount(0);

    await page.sidebar.openTab(SIDEBAR);
    await page
      .locator(`#${SIDEBAR}`)
      .getByRole('navigation', { name: 'nblift views' })
      .getByRole('button', { name: 'Runs', exact: true })
      .click();
    const failed = await run.getAttribute('aria-label');
    await run
      .getByRole('button', { name: 'Re-run with other parameters' })
      .click();
    await expect(dialog.getByLabel('learning_rate')).toHaveValue('1e+100');
    await expect(dialog.getByLabel('epochs')).toHaveValue('5');
    await dialog.getByLabel('learning_rate').fill('0.05');
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await expect(run).not.toHaveAttribute('aria-label', failed ?? '');
    await expect(state).toHaveText('SUCCEEDED', { timeout: 180000 });
    await expect(run.getByRole('table', { name: 'run' })).toContainText(
      'learning_rate=0.05'
    );
    await expect(panel.getByRole('list', { name: 'run list' })).toContainText(
      'FAILED'
    );
  });

  test('Cancel stops a run in flight', async ({ page }) => {
    test.setTimeout(300000);
    await page.notebook.createNew('slow.ipynb');
    await page.notebook.setCell(0, 'code', 'import time\ntime.sleep(300)');
    await page.notebook.save();

    await page.getByRole('button', { name: 'Run on…' }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('no cell tagged');
    // An answer the server refuses comes back in the dialog, with its hint.
    await dialog.getByLabel('Timeout').fill('soon');
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await expect(dialog.getByRole('alert')).toContainText('is not a duration');
    await expect(dialog.getByRole('alert')).toContainText('30m');
    await expect(dialog.getByLabel('Timeout')).toHaveValue('soon');
    await dialog.getByLabel('Timeout').fill('10m');
    await dialog.getByRole('button', { name: 'Launch' }).click();

    const run = viewTab(page, 'runs').getByRole('region', {
      name: /^run [0-9a-f]{12}$/
    });
    const cells = run.getByRole('list', { name: 'cell progress' });
    await expect(cells.locator('[data-status="running"]')).toHaveCount(1, {
      timeout: 180000
    });
    await expect(run.getByRole('table', { name: 'run' })).toContainText(
      'timeout 10m'
    );
    // Nothing to open while the run goes on, and the button looks it.
    const open = run.getByRole('button', { name: 'Open executed notebook' });
    await expect(open).toBeDisabled();
    await expect(open).toHaveCSS('cursor', 'not-allowed');
    await expect(open).toHaveCSS('opacity', '0.5');
    await run.getByRole('button', { name: 'Cancel' }).click();
    await expect(
      run.locator('.jp-nblift-subtitle .jp-nblift-state')
    ).toHaveText('CANCELLED', { timeout: 60000 });
    await expect(run.getByRole('button', { name: 'Cancel' })).toHaveCount(0);
    await expect(run).toContainText('Cancelled.');
  });

  test('a run started with %lift run shows up without a Refresh', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(300000);
    await page.contents.uploadContent(
      JSON.stringify({
        cells: [
          {
            cell_type: 'code',
            source: 'print("from the magic")',
            metadata: {},
            outputs: [],
            execution_count: null
          }
        ],
        metadata: {
          kernelspec: { name: 'python3', display_name: 'Python 3' }
        },
        nbformat: 4,
        nbformat_minor: 5
      }),
      'text',
      `${tmpPath}/magic-target.ipynb`
    );
    await openNewNotebook(page, `${tmpPath}/driver.ipynb`);
    await page.sidebar.openTab(SIDEBAR);
    const list = page
      .locator(`#${SIDEBAR}`)
      .getByRole('list', { name: 'recent runs' });
    await runLast(page, '%load_ext nblift\n%lift run magic-target.ipynb');
    // No Refresh pressed: the view polls while the kernel works, and reads again once the cell finished.
    await expect(
      list.getByRole('listitem').filter({ hasText: 'magic-target.ipynb' })
    ).toHaveCount(1, { timeout: 120000 });
  });

  test('follows a run by polling its events when the event stream is unavailable', async ({
    page
  }) => {
    test.setTimeout(300000);
    await page.route('**/nblift/api/runs/*/events/stream**', route =>
      route.abort()
    );
    await page.notebook.createNew('hello.ipynb');
    await page.notebook.setCell(
      0,
      'code',
      'print("hello from a fresh kernel")'
    );
    await page.notebook.save();

    await page.getByRole('button', { name: 'Run on…' }).click();
    await page
      .locator('.jp-Dialog')
      .getByRole('button', { name: 'Launch' })
      .click();
    const run = viewTab(page, 'runs').getByRole('region', {
      name: /^run [0-9a-f]{12}$/
    });
    await expect(
      run.locator('.jp-nblift-subtitle .jp-nblift-state')
    ).toHaveText('SUCCEEDED', { timeout: 180000 });
    await expect(run.getByTestId('nblift-run-cells')).toHaveText(
      '1 of 1 cells'
    );
    await expect(run.getByRole('log', { name: 'run output' })).toContainText(
      'hello from a fresh kernel'
    );
  });
});
