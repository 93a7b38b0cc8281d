import { expect, test } from '@jupyterlab/galata';

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

    // Restore the older snapshot: x goes back to three elements.
    await list
      .getByRole('button', { name: /^restore / })
      .nth(1)
      .click();
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
});
