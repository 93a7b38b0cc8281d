import { expect, test } from '@jupyterlab/galata';

import { cellText, openNewNotebook, runLast } from './notebook';

const SIDEBAR = 'nblift-sidebar';

test.describe('nblift snapshots view', () => {
  test('snapshot, diff two, restore one from the sidebar', async ({ page }) => {
    await page.notebook.createNew('snap.ipynb');
    await page.notebook.setCell(0, 'code', '%load_ext nblift\nx = [1, 2, 3]');
    await page.notebook.run();
    await page.notebook.save();

    await page.sidebar.openTab(SIDEBAR);
    const panel = page.locator(`#${SIDEBAR}`);
    const list = panel.getByRole('list', { name: 'snapshot list' });

    await panel.getByRole('button', { name: 'Snapshot now' }).click();
    await expect(list.getByRole('listitem')).toHaveCount(1);
    await expect(panel.getByTestId('nblift-snapshot-message')).toContainText(
      'added x'
    );

    await page.notebook.addCell('code', 'x.append(4)\ny = "new"');
    await page.notebook.runCell(1);
    await panel.getByRole('button', { name: 'Snapshot now' }).click();
    await expect(list.getByRole('listitem')).toHaveCount(2);

    const boxes = list.getByRole('checkbox');
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await panel.getByRole('button', { name: 'Diff selected' }).click();
    const diff = panel.getByLabel('snapshot diff');
    await expect(diff).toContainText('added: y');
    await expect(diff).toContainText('changed: x');

    // Restore asks first, naming the live variables it would overwrite; Cancel changes nothing.
    const restoreOlder = list.getByRole('button', { name: /^restore / }).nth(1);
    await restoreOlder.click();
    const dialog = page.locator('.jp-Dialog');
    const overwritten = dialog.getByRole('list', {
      name: 'variables overwritten'
    });
    await expect(overwritten.getByRole('listitem')).toHaveText(['x']);
    await dialog.screenshot({ path: '/tmp/nblift-restore-dialog.png' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toHaveCount(0);
    const unchanged = await runLast(page, 'print(len(x))');
    await expect
      .poll(async () => page.notebook.getCellTextOutput(unchanged))
      .toEqual(['4\n']);

    // Restore the older snapshot: x goes back to three elements.
    await restoreOlder.click();
    await dialog.getByRole('button', { name: 'Overwrite and restore' }).click();
    await expect(panel.getByTestId('nblift-snapshot-message')).toContainText(
      'restored'
    );
    const last = (await page.notebook.getCellCount()) - 1;
    await page.notebook.setCell(last, 'code', 'print(len(x))');
    await page.notebook.runCell(last);
    await expect
      .poll(async () => page.notebook.getCellTextOutput(last))
      .toEqual(['3\n']);
  });

  test('a snapshot taken in a cell shows up without a Refresh', async ({
    page,
    tmpPath
  }) => {
    await openNewNotebook(page, `${tmpPath}/follow.ipynb`);
    await page.sidebar.openTab(SIDEBAR);
    const panel = page.locator(`#${SIDEBAR}`);
    const list = panel.getByRole('list', { name: 'snapshot list' });
    const before = await list.getByRole('listitem').count();

    const cell = await runLast(
      page,
      '%load_ext nblift\nz = 42\n%lift snapshot -m "taken in a cell"'
    );
    await expect
      .poll(() => cellText(page, cell), { timeout: 60000 })
      .toMatch(/snapshot [0-9a-f]+/);
    // No button pressed: the view reads again after the cell ran, and on its timer.
    await expect(list.getByRole('listitem')).toHaveCount(before + 1, {
      timeout: 20000
    });
    await expect(list).toContainText('taken in a cell');
  });
});
