import { expect, test } from '@jupyterlab/galata';

import { openNewNotebook, runLast } from './notebook';
import { viewTab } from './views';

/** A notebook that runs for a while (its budget stops it first). */
const SLOW = {
  cells: [
    {
      cell_type: 'code',
      source: 'import time\nfor i in range(120):\n    time.sleep(0.5)',
      metadata: {},
      outputs: [],
      execution_count: null
    }
  ],
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3' } },
  nbformat: 4,
  nbformat_minor: 5
};

test.use({ viewport: { width: 1280, height: 800 } });

test.describe('nblift costs in the UI', () => {
  test('Run on… shows the estimate and takes a budget; the Runs view warns at 80% and the budget stops the run', async ({
    page,
    tmpPath
  }) => {
    test.setTimeout(240000);
    // a project of its own whose local runs cost $7.20 an hour: a $0.04 budget lasts 20 s
    await page.contents.uploadContent(
      '[tool.nblift]\nlocal_hourly_cost = 7.2\n',
      'text',
      `${tmpPath}/pyproject.toml`
    );
    // its state folder, made by a kernel (the server's contents API makes no hidden folders)
    await openNewNotebook(page, `${tmpPath}/setup.ipynb`);
    await runLast(page, "import os\nos.makedirs('.nblift', exist_ok=True)");
    await page.contents.uploadContent(
      JSON.stringify(SLOW),
      'text',
      `${tmpPath}/slow.ipynb`
    );
    await page.notebook.openByPath(`${tmpPath}/slow.ipynb`);
    await page.notebook.activate('slow.ipynb');

    await page.getByRole('button', { name: 'Run on…' }).click();
    const dialog = page.locator('.jp-Dialog');
    const estimate = dialog.getByLabel('cost estimate');
    // Python words the estimate: the rate and where it comes from, and why the duration is not known yet
    await expect(estimate).toContainText('$7.20/h');
    await expect(estimate).toContainText('duration unknown');
    await dialog.getByLabel('Budget (USD)').fill('0.04');
    await expect(estimate).toContainText('budget $0.04');
    await dialog.getByRole('button', { name: 'Launch' }).click();
    await expect(dialog).toHaveCount(0);

    const panel = viewTab(page, 'runs');
    const run = panel.getByRole('region', { name: /^run [0-9a-f]{12}$/ });
    const cost = run.getByTestId('nblift-run-cost');
    await expect(cost).toContainText('budget $0.04', { timeout: 60000 });
    await expect(cost.getByRole('alert')).toContainText(
      'over 80% of its $0.04 budget spent',
      { timeout: 60000 }
    );
    await expect(
      run.locator('.jp-nblift-subtitle .jp-nblift-state')
    ).toHaveText('TIMED_OUT', { timeout: 90000 });
    await expect(run).toContainText('the run reached its budget of $0.04');
    await expect(cost.getByRole('alert')).toHaveCount(0); // it ended: nothing left to warn of
  });
});
