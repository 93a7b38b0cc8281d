import { expect, test } from '@jupyterlab/galata';

const SIDEBAR = 'nblift-sidebar';
const PACKAGE = 'pyjokes';

test.describe('nblift environments view', () => {
  test('shows drift after a package is installed into the kernel, and Pin clears it', async ({
    page
  }) => {
    test.setTimeout(240000);
    await page.notebook.createNew('env.ipynb');
    await page.notebook.setCell(0, 'code', 'import sys');
    await page.notebook.run();
    await page.notebook.save();

    await page.sidebar.openTab(SIDEBAR);
    const panel = page.locator(`#${SIDEBAR}`);
    const drift = panel.getByLabel('drift between kernel and lock');

    await panel.getByRole('button', { name: 'Pin' }).click();
    await expect(panel.getByTestId('nblift-env-message')).toContainText(
      'locked',
      { timeout: 120000 }
    );
    await expect(drift).toContainText('No drift', { timeout: 60000 });
    await expect(panel.getByTestId('nblift-env-lock')).toContainText(
      'packages for linux'
    );

    // Install a package into the kernel's environment: the lock no longer matches.
    await page.notebook.addCell(
      'code',
      'import subprocess\n' +
        `subprocess.run([sys.executable, "-m", "pip", "install", "-q", "${PACKAGE}"], check=True)`
    );
    await page.notebook.runCell(1);
    await panel.getByRole('button', { name: 'Check environment' }).click();
    await expect(drift).toContainText(`${PACKAGE}`, { timeout: 60000 });
    await expect(drift).toContainText('missing in lock');

    await panel.getByRole('button', { name: 'Pin' }).click();
    await expect(panel.getByTestId('nblift-env-message')).toContainText(
      'packages for linux',
      { timeout: 120000 }
    );
    await expect(drift).toContainText('No drift', { timeout: 60000 });

    // Leave the environment as it was.
    const last = (await page.notebook.getCellCount()) - 1;
    await page.notebook.setCell(
      last,
      'code',
      `subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "${PACKAGE}"], check=True)`
    );
    await page.notebook.runCell(last);
  });
});
